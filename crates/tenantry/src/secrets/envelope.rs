//! AES-256-GCM with a random 96-bit nonce and associated data that names
//! what the ciphertext is for, so a ciphertext moved to another tenant or
//! another secret's row does not decrypt.

use aes_gcm::aead::{Aead, Generate, Key, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::SecretsError;

/// A 256-bit key.
pub(crate) const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

/// A fresh random key.
pub(crate) fn random_key() -> [u8; KEY_BYTES] {
    Key::<Aes256Gcm>::generate().into()
}

/// `nonce ‖ ciphertext ‖ tag` of `plaintext` under `key`, bound to `aad`.
pub(crate) fn seal(key: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecretsError> {
    let cipher = cipher(key)?;
    let nonce = Nonce::generate();
    let mut out = nonce.to_vec();
    out.extend(
        cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| SecretsError::Crypto("encryption failed"))?,
    );
    Ok(out)
}

/// The plaintext of [`seal`]'s output, if `key` and `aad` are the ones it
/// was sealed with and nothing was altered.
pub(crate) fn open(key: &[u8], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, SecretsError> {
    if sealed.len() < NONCE_BYTES {
        return Err(SecretsError::Crypto("ciphertext too short"));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    let nonce: [u8; NONCE_BYTES] = nonce
        .try_into()
        .map_err(|_| SecretsError::Crypto("ciphertext too short"))?;
    cipher(key)?
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| SecretsError::Crypto("decryption failed (wrong key, or altered)"))
}

fn cipher(key: &[u8]) -> Result<Aes256Gcm, SecretsError> {
    Aes256Gcm::new_from_slice(key).map_err(|_| SecretsError::Crypto("a key must be 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_context() {
        let (key, other) = (random_key(), random_key());
        let sealed = seal(&key, b"hunter2", b"acme/smtp").unwrap();
        assert_eq!(open(&key, &sealed, b"acme/smtp").unwrap(), b"hunter2");
        assert!(open(&other, &sealed, b"acme/smtp").is_err());
        assert!(open(&key, &sealed, b"globex/smtp").is_err());
        let mut altered = sealed;
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&key, &altered, b"acme/smtp").is_err());
        // Two seals of one value differ (fresh nonces).
        assert_ne!(
            seal(&key, b"x", b"").unwrap(),
            seal(&key, b"x", b"").unwrap()
        );
    }
}
