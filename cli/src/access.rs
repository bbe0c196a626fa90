//! Access to the node's HTTP server: riders' and staff access codes with
//! the QR code of their sign-in link (`yizhan roster code`, `yizhan staff
//! code`), and a self-signed certificate for trials (`yizhan http
//! self-signed`).
//!
//! The code is made here and only its hash goes to the node, so the
//! plaintext never reaches the store, not even the answer the node keeps
//! for a retried request.

use crate::file_error::FileContext as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use crdt_model::MemberId;
use node::admin::{Request, Response, dispatch};
use node::http::codes::{CodeHolder, code_hash, new_code};
use serde_json::json;

use crate::error_out::refuse;
use crate::i18n::{tr, tr_args};
use crate::output::{Output, print_json};
use crate::table::printable;

/// `yizhan roster code MEMBER`
#[derive(Debug, Args)]
pub struct CodeArgs {
    /// Member id, such as m-3f9a2c1d.
    pub member: String,
    #[command(flatten)]
    pub how: CodeHow,
}

/// What to do with a code, for riders and staff alike.
#[derive(Debug, Args)]
pub struct CodeHow {
    /// Take back every code of this holder instead of issuing one.
    #[arg(long)]
    pub revoke: bool,
    /// The server's address as phones reach it, such as
    /// https://yizhan.example.cn:8443 (default: `[http] public_url`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Also write the QR code as a PNG image to this file.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
}

/// `yizhan staff ...`
#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Issue an access code for community or street staff (shown once,
    /// with a QR code of the sign-in link); `--revoke` takes it back.
    Code {
        /// Who it is for, as the office knows them (such as 张敏 网格长).
        #[arg(long)]
        name: String,
        #[command(flatten)]
        how: CodeHow,
    },
}

/// `yizhan http ...`
#[derive(Debug, Subcommand)]
pub enum HttpCommand {
    /// Make a self-signed certificate and key for trials, and say how to
    /// configure them. Phones warn about it once; use a real certificate
    /// in service.
    SelfSigned {
        /// Host names or IP addresses the certificate is for (repeatable).
        #[arg(long = "host", value_name = "NAME", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
        hosts: Vec<String>,
        /// Write http-cert.pem and http-key.pem here (default: the data
        /// directory).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

/// Runs `yizhan roster code`.
pub fn rider_code(dir: &Path, a: CodeArgs, out: &Output) -> anyhow::Result<()> {
    let member = MemberId::parse(&a.member)
        .with_context(|| format!("{:?} is not a member id such as m-3f9a2c1d", a.member))?;
    code(dir, CodeHolder::Rider { member }, a.how, out)
}

/// Runs `yizhan staff ...`.
pub fn staff(dir: &Path, cmd: StaffCommand, out: &Output) -> anyhow::Result<()> {
    match cmd {
        StaffCommand::Code { name, how } => code(dir, CodeHolder::Staff { name }, how, out),
    }
}

fn code(dir: &Path, holder: CodeHolder, how: CodeHow, out: &Output) -> anyhow::Result<()> {
    if how.revoke {
        if how.png.is_some() || how.url.is_some() {
            return Err(refuse("bad_flags", "input.revoke_no_link", &[]));
        }
        return match dispatch(dir, Request::RevokeCodes { holder })? {
            Response::Done(said) if out.json => print_json(&json!({ "done": said.message })),
            Response::Done(said) => {
                println!("{}", printable(&crate::output::done(&said)));
                Ok(())
            }
            other => return Err(crate::file_error::unexpected(&other)),
        };
    }
    let base = match how.url {
        Some(u) => u,
        None => node::Node::load_config(dir)?
            .http
            .public_url
            .ok_or_else(|| refuse("no_public_url", "input.no_public_url", &[]))?,
    };
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        let url = [("url", format!("{base:?}"))];
        return Err(refuse("bad_value", "input.url_scheme", &url));
    }
    let code = new_code();
    // Riders sign in on the page at the root, staff on the console.
    let page = match holder {
        CodeHolder::Rider { .. } => "/",
        CodeHolder::Staff { .. } => "/console",
    };
    let link = format!("{}{page}#code={code}", base.trim_end_matches('/'));
    let qr = qrcode::QrCode::new(link.as_bytes()).context("cannot make the QR code")?;
    let record = match dispatch(
        dir,
        Request::IssueCode {
            hash: code_hash(&code),
            holder,
        },
    )? {
        Response::CodeIssued(r) => r,
        other => return Err(crate::file_error::unexpected(&other)),
    };
    if let Some(png) = &how.png {
        let image = qr
            .render::<image::Luma<u8>>()
            .min_dimensions(400, 400)
            .build();
        image
            .save_with_format(png, image::ImageFormat::Png)
            .writing(png)?;
    }
    if out.json {
        return print_json(&json!({
            "holder": record.holder,
            "place": record.place,
            "code": code,
            "link": link,
            "png": how.png,
        }));
    }
    // Light modules on dark: most terminals are dark, and a QR code scans
    // only with dark modules on a light ground.
    let text = qr
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .build();
    println!("{text}");
    let issued = [
        ("holder", record.holder.to_string()),
        ("place", record.place.to_string()),
        ("code", code.clone()),
    ];
    println!("{}", printable(&tr_args("code.issued", &issued)));
    println!("{}", tr_args("code.link", &[("link", link.clone())]));
    if let Some(png) = &how.png {
        let path = [("path", png.display().to_string())];
        println!("{}", printable(&tr_args("code.image", &path)));
    }
    println!("{}", tr("code.once"));
    Ok(())
}

/// Runs `yizhan http ...`.
pub fn http(dir: &Path, cmd: HttpCommand, out: &Output) -> anyhow::Result<()> {
    let HttpCommand::SelfSigned {
        hosts,
        out: to,
        force,
    } = cmd;
    let to = to.unwrap_or_else(|| dir.to_owned());
    let (cert_path, key_path) = (to.join("http-cert.pem"), to.join("http-key.pem"));
    for p in [&cert_path, &key_path] {
        if p.exists() && !force {
            let path = [("path", p.display().to_string())];
            return Err(refuse("file_exists", "input.file_exists", &path));
        }
    }
    let (cert, key) = node::http::tls::self_signed(hosts.clone())?;
    std::fs::create_dir_all(&to).creating(&to)?;
    crate::workflow::write_file(&cert_path, cert.as_bytes())?;
    write_private(&key_path, key.as_bytes())?;
    if out.json {
        return print_json(&json!({ "cert": cert_path, "key": key_path, "hosts": hosts }));
    }
    let wrote = [
        ("cert", cert_path.display().to_string()),
        ("key", key_path.display().to_string()),
        ("hosts", hosts.join(", ")),
    ];
    println!("{}", printable(&tr_args("http.wrote", &wrote)));
    println!("{}", tr("http.put_in_config"));
    println!();
    println!("[http]");
    println!("listen = \"0.0.0.0:8443\"");
    println!("cert = {:?}", cert_path.display().to_string());
    println!("key = {:?}", key_path.display().to_string());
    println!(
        "public_url = \"https://{}:8443\"",
        hosts.first().map_or("localhost", String::as_str)
    );
    println!();
    println!("{}", tr("http.self_signed_warning"));
    Ok(())
}

/// Writes the private key readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .writing(path)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).writing(path)
}
