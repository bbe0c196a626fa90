//! Service certificates on the command line: `yizhan points certificate`
//! issues one at a community node; `yizhan certificate verify` checks one
//! with no data directory and no node, from the file and the federation's
//! root peer id alone (`docs/certificates.md`).

use crate::file_error::FileContext as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use node::certificate::{self, Body, Verified};
use node::workflow::{PointsRequest, WorkflowRequest, WorkflowResponse};

use crate::i18n::{tr, tr_args};
use crate::output::{Output, print_json};
use crate::qr;
use crate::table::{label, printable};
use crate::workflow::{call, date, member, unexpected, write_file};

/// `yizhan points certificate`
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The member, such as m-3f9a2c1d.
    pub member: String,
    /// First day covered, YYYY-MM-DD in the node's time zone (default: the day they applied).
    #[arg(long)]
    pub from: Option<String>,
    /// Last day covered (default: today).
    #[arg(long)]
    pub to: Option<String>,
    /// Where to write the certificate (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write a QR code of the compact form as a PNG image.
    #[arg(long, value_name = "FILE.png")]
    pub qr: Option<PathBuf>,
}

/// `yizhan certificate ...`
#[derive(Debug, Subcommand)]
pub enum CertificateCommand {
    /// Check a service certificate offline (no data directory, no node):
    /// its signature, its admission chain from the root, that the issuer is
    /// the community node of the member's community and, with --charter,
    /// that no key on the chain was revoked when it was issued.
    Verify(VerifyArgs),
}

/// `yizhan certificate verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate: the JSON file, or a file holding its yzc1. text (as a QR code holds it).
    pub file: PathBuf,
    /// The federation's root: the district node's peer id.
    #[arg(long, value_name = "ROOT_PEER_ID")]
    pub root: String,
    /// The federation's charter, as `yizhan doc export DISTRICT/charter` writes it.
    #[arg(long, value_name = "FILE")]
    pub charter: Option<PathBuf>,
}

/// Issues a certificate at the community node in `dir` and writes it.
pub fn issue(dir: &Path, a: IssueArgs, out: &Output) -> anyhow::Result<()> {
    let req = PointsRequest::Certificate {
        member: member(&a.member)?,
        from: a.from.as_deref().map(|s| date(s, "--from")).transpose()?,
        to: a.to.as_deref().map(|s| date(s, "--to")).transpose()?,
    };
    let cert = match call(dir, WorkflowRequest::Points(req))? {
        WorkflowResponse::Certificate(c) => *c,
        other => return unexpected(other),
    };
    let compact = cert.to_compact()?;
    let mut json = cert.to_json()?;
    json.push('\n');
    // Everything is encoded before anything is written: a failure leaves
    // no half of the pair behind.
    let png = a.qr.as_ref().map(|_| qr::png(&compact)).transpose()?;
    let terminal = if out.json {
        None
    } else {
        Some(qr::terminal(&compact)?)
    };
    write_file(&a.out, json.as_bytes())?;
    if let (Some(path), Some(bytes)) = (&a.qr, &png) {
        write_file(path, bytes)?;
    }
    if out.json {
        return print_json(&serde_json::json!({
            "certificate": cert,
            "out": a.out,
            "qr": a.qr,
            "compact": compact,
        }));
    }
    println!("{}", body_table(&cert.body));
    let path = ("path", a.out.display().to_string());
    let written = match &a.qr {
        Some(qr) => tr_args(
            "certificate.qr_written",
            &[path, ("qr", qr.display().to_string())],
        ),
        None => tr_args("certificate.written", &[path]),
    };
    println!("{}", printable(&written));
    if let Some(code) = terminal {
        println!("{code}");
    }
    Ok(())
}

/// Runs `yizhan certificate ...`: never opens a data directory.
pub fn run(cmd: CertificateCommand, out: &Output) -> anyhow::Result<()> {
    let CertificateCommand::Verify(a) = cmd;
    let file = read_capped(&a.file, certificate::CERTIFICATE_BYTES_MAX)?;
    let charter = a
        .charter
        .as_deref()
        .map(|p| read_capped(p, certificate::CHARTER_BYTES_MAX))
        .transpose()?;
    let v = certificate::verify(&file, &a.root, charter.as_deref())?;
    if out.json {
        return print_json(&serde_json::json!({ "valid": true, "certificate": v }));
    }
    print_verified(&v);
    Ok(())
}

/// Reads at most `max` bytes and one more, so an oversized file is refused
/// by the verifier with its size rather than read whole.
fn read_capped(path: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).reading(path)?;
    let mut bytes = Vec::new();
    f.take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .reading(path)?;
    Ok(bytes)
}

fn utc(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}

fn body_table(b: &Body) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    let s = &b.service;
    for (k, v) in [
        (
            "member",
            format!("{} ({})", b.member.display_name, b.member.id),
        ),
        ("community", b.community.to_string()),
        (
            "period",
            tr_args(
                "certificate.period",
                &[
                    ("from", b.period.from.to_string()),
                    ("to", b.period.to.to_string()),
                    ("zone", b.period.timezone.to_string()),
                ],
            ),
        ),
        ("verified reports", s.verified_reports.to_string()),
        ("signed-off tasks", s.signed_off_tasks.to_string()),
        ("patrols", s.patrols.to_string()),
        ("points earned", s.points_earned.to_string()),
        ("issued", utc(b.issued_at)),
        ("issuer", b.issuer.to_string()),
    ] {
        t.add_row(vec![label(k), printable(&v)]);
    }
    t
}

fn print_verified(v: &Verified) {
    println!("{}", tr("certificate.valid"));
    println!("{}", body_table(&v.body));
    let chain: Vec<String> = v
        .chain
        .iter()
        .map(|(role, place, _)| format!("{} {place}", crate::i18n::role(role.as_str())))
        .collect();
    let chain = [("chain", chain.join(" → "))];
    println!("{}", tr_args("certificate.admitted", &chain));
    println!(
        "{}",
        tr(if v.charter_checked {
            "certificate.charter_checked"
        } else {
            "certificate.charter_not_checked"
        })
    );
}
