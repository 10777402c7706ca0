//! Outgoing e-mail: `.eml` files under the data directory (the embedded
//! default: nothing to run, every message inspectable) or an SMTP server
//! through lettre — STARTTLS or TLS verified against the platform's roots
//! (and a private CA if configured), AUTH when a login is configured.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Doing as _, ServerError};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::config::{MailTransport, SmtpConfig, SmtpSecurity};

/// One message.
#[derive(Clone, Debug)]
pub(crate) struct Email {
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

impl Email {
    /// RFC 5322 text, CRLF line endings; `tenant` and `job` go in headers so
    /// a message can be traced back to the work that sent it.
    fn render(&self, tenant: &str, job: i64) -> String {
        let body = self.body.replace("\r\n", "\n").replace('\n', "\r\n");
        format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nMessage-ID: <{}@tenantry>\r\nX-Tenant: {tenant}\r\nX-Job-Id: {job}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
            self.from,
            self.to,
            self.subject.replace(['\r', '\n'], " "),
            self.delivery_key(job),
        )
    }

    /// The same for every attempt of one job's message to one recipient:
    /// the outbox file's name and the `Message-ID`, so a job run again
    /// after a crash replaces its file (and receivers can drop the
    /// duplicate) instead of sending twice.
    fn delivery_key(&self, job: i64) -> String {
        // FNV-1a: stable across releases, unlike std's hasher.
        let hash = [self.to.as_bytes(), b"\n", self.subject.as_bytes()]
            .concat()
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("job{job}-{hash:016x}")
    }
}

/// Sends e-mail the configured way.
#[derive(Clone)]
pub(crate) struct Mailer {
    transport: Transport,
}

#[derive(Clone)]
enum Transport {
    Files(PathBuf),
    Smtp {
        server: String,
        client: AsyncSmtpTransport<Tokio1Executor>,
    },
}

impl Mailer {
    /// A mailer over `transport`; fails when the SMTP TLS set-up does
    /// (an unreadable CA file, say) — at start-up, not at the first e-mail.
    pub(crate) fn new(transport: MailTransport) -> Result<Self, ServerError> {
        let transport = match transport {
            MailTransport::Files(dir) => Transport::Files(dir),
            MailTransport::Smtp(smtp) => Transport::Smtp {
                server: format!("{}:{}", smtp.host, smtp.port),
                client: smtp_client(&smtp)?,
            },
        };
        Ok(Self { transport })
    }

    /// Sends `email` for tenant `tenant` from job `job`.
    pub(crate) async fn send(&self, email: &Email, tenant: &str, job: i64) -> Result<(), String> {
        let text = email.render(tenant, job);
        match &self.transport {
            Transport::Files(dir) => {
                write_file(dir.join(tenant), &email.delivery_key(job), &text).await
            }
            Transport::Smtp { server, client } => {
                let envelope = Envelope::new(
                    Some(email.from.parse().map_err(|e| format!("sender: {e}"))?),
                    vec![email.to.parse().map_err(|e| format!("recipient: {e}"))?],
                )
                .map_err(|e| e.to_string())?;
                client
                    .send_raw(&envelope, text.as_bytes())
                    .await
                    .map(drop)
                    .map_err(|e| format!("SMTP {server}: {e}"))
            }
        }
    }
}

/// The lettre client for `smtp`: its TLS mode, a private CA beside the
/// platform's roots, AUTH, and a 30 s budget per command.
fn smtp_client(smtp: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, ServerError> {
    let tls = || -> Result<TlsParameters, ServerError> {
        let mut builder = TlsParameters::builder(smtp.host.clone());
        if let Some(path) = &smtp.ca_file {
            let pem = std::fs::read(path).doing(|| format!("reading {}", path.display()))?;
            builder = builder.add_root_certificate(
                Certificate::from_pem(&pem)
                    .map_err(ServerError::other)
                    .doing(|| format!("{}: not a PEM certificate", path.display()))?,
            );
        }
        builder
            .build_rustls()
            .map_err(ServerError::other)
            .doing(|| "setting up TLS for SMTP")
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(30)))
        .tls(match smtp.security {
            SmtpSecurity::StartTls => Tls::Required(tls()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls()?),
            SmtpSecurity::None => Tls::None,
        });
    if let Some(login) = &smtp.credentials {
        builder = builder.credentials(Credentials::new(
            login.username.clone(),
            login.password.clone(),
        ));
    }
    Ok(builder.build())
}

/// Written under a temporary name and renamed over `name.eml`: a reader
/// never sees half a message, and a second attempt replaces the first.
async fn write_file(dir: PathBuf, name: &str, text: &str) -> Result<(), String> {
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let attempt = uuid::Uuid::now_v7().simple();
    let partial = dir.join(format!(".{name}.{attempt}.tmp"));
    tokio::fs::write(&partial, text)
        .await
        .map_err(|e| format!("writing {}: {e}", partial.display()))?;
    tokio::fs::rename(&partial, dir.join(format!("{name}.eml")))
        .await
        .map_err(|e| format!("renaming {}: {e}", partial.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str, subject: &str) -> Email {
        Email {
            from: "billing@example.test".into(),
            to: to.into(),
            subject: subject.into(),
            body: "hello".into(),
        }
    }

    #[tokio::test]
    async fn a_job_run_twice_leaves_one_message() {
        let dir =
            std::env::temp_dir().join(format!("tenantry-mail-{}", uuid::Uuid::new_v4().simple()));
        let mailer = Mailer::new(MailTransport::Files(dir.clone())).unwrap();
        let message = email("a@acme.example", "Invoice #1 issued");
        mailer.send(&message, "acme", 7).await.unwrap();
        mailer.send(&message, "acme", 7).await.unwrap(); // the rerun after a crash
        mailer
            .send(&email("b@acme.example", "Invoice #1 issued"), "acme", 7)
            .await
            .unwrap();
        mailer
            .send(
                &email("a@acme.example", "Reminder: invoice #1 is overdue"),
                "acme",
                7,
            )
            .await
            .unwrap();
        let files = std::fs::read_dir(dir.join("acme")).unwrap().count();
        assert_eq!(files, 3, "one file per job, recipient and subject");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
