//! Outgoing e-mail: `.eml` files under the data directory (the embedded
//! default: nothing to run, every message inspectable) or an SMTP server.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::MailTransport;

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
#[derive(Clone, Debug)]
pub(crate) struct Mailer {
    transport: MailTransport,
}

impl Mailer {
    /// A mailer over `transport`.
    pub(crate) fn new(transport: MailTransport) -> Self {
        Self { transport }
    }

    /// Sends `email` for tenant `tenant` from job `job`.
    pub(crate) async fn send(&self, email: &Email, tenant: &str, job: i64) -> Result<(), String> {
        let text = email.render(tenant, job);
        match &self.transport {
            MailTransport::Files(dir) => {
                write_file(dir.join(tenant), &email.delivery_key(job), &text).await
            }
            MailTransport::Smtp(addr) => {
                tokio::time::timeout(Duration::from_secs(30), smtp(addr, email, &text))
                    .await
                    .map_err(|_| format!("SMTP {addr}: no answer within 30 s"))?
            }
        }
    }
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

/// A minimal SMTP exchange: EHLO, MAIL, RCPT, DATA (dot-stuffed), QUIT.
async fn smtp(addr: &str, email: &Email, text: &str) -> Result<(), String> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("SMTP {addr}: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut replies = BufReader::new(read);
    expect(&mut replies, 220).await?;
    for (command, code) in [
        ("EHLO tenantry".to_owned(), 250),
        (format!("MAIL FROM:<{}>", email.from), 250),
        (format!("RCPT TO:<{}>", email.to), 250),
        ("DATA".to_owned(), 354),
    ] {
        write
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        expect(&mut replies, code).await?;
    }
    let mut data = String::with_capacity(text.len() + 8);
    for line in text.split("\r\n") {
        if line.starts_with('.') {
            data.push('.');
        }
        data.push_str(line);
        data.push_str("\r\n");
    }
    data.push_str(".\r\n");
    write
        .write_all(data.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    expect(&mut replies, 250).await?;
    let _ = write.write_all(b"QUIT\r\n").await;
    Ok(())
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(
    replies: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    code: u16,
) -> Result<(), String> {
    loop {
        let mut line = String::new();
        if replies
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?
            == 0
        {
            return Err("SMTP server closed the connection".into());
        }
        let got: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        if got != code {
            return Err(format!("SMTP: expected {code}, got {}", line.trim_end()));
        }
        // `250-…` continues; `250 …` ends the reply.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
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
        let mailer = Mailer::new(MailTransport::Files(dir.clone()));
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
