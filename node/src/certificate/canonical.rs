//! The canonical JSON that certificate signatures cover: object keys sorted
//! by code point, no whitespace, strings escaped as JSON's minimal escapes
//! (`\"`, `\\`, `\b \f \n \r \t`, other controls as lowercase `\u00xx`),
//! other characters as raw UTF-8, integers only. Python's
//! `json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! writes the same bytes, which is why this form and not a binary one: a
//! platform's verifier needs only its standard library.

use serde_json::Value;

/// Writes `v` canonically; refuses fractional numbers, whose text forms
/// differ between JSON libraries.
pub fn to_string(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write(v, &mut out)?;
    Ok(out)
}

fn write(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write(&map[k], out)?;
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out)?;
            }
            out.push(']');
        }
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => {
            return Err(format!("the number {n} is not an integer"));
        }
        scalar => out.push_str(&scalar.to_string()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_and_text_stays_raw_utf8() {
        let v: Value =
            serde_json::from_str(r#"{ "b": [1, -2], "a": {"z": null, "y": "王\n\"x\"\u0001"} }"#)
                .unwrap();
        assert_eq!(
            to_string(&v).unwrap(),
            "{\"a\":{\"y\":\"王\\n\\\"x\\\"\\u0001\",\"z\":null},\"b\":[1,-2]}"
        );
        assert!(to_string(&serde_json::json!({"a": 1.5})).is_err());
    }
}
