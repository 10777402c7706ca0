//! The signatures behind `jsonwebtoken`, computed by `ring`.
//!
//! `jsonwebtoken` leaves its cryptography to a process-wide provider. Its
//! own RustCrypto provider brings a second, older generation of the hash,
//! HMAC and elliptic-curve crates (and an RSA crate) into every build that
//! verifies tokens, beside the ones PostgreSQL's driver already uses; its
//! aws-lc provider brings a C library of its own. `ring` is already here —
//! rustls verifies every TLS handshake with it — so tenantry verifies and
//! signs tokens with `ring` too: one implementation of each primitive in
//! the whole build.
//!
//! tenantry installs the provider itself before it builds a
//! [`TokenVerifier`](super::TokenVerifier) or issues a token. Code of
//! yours that calls `jsonwebtoken` first (to sign test tokens, say) calls
//! [`install_jwt_crypto`] beforehand. If another provider was installed
//! first, that one stays and tenantry uses it.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
};
use ring::{digest, hmac};

/// Makes `ring` the process's `jsonwebtoken` provider, unless one is
/// installed already. Cheap to call again.
///
/// ```
/// tenantry::edge::install_jwt_crypto();
/// let key = jsonwebtoken::EncodingKey::from_secret(b"a secret of at least thirty-two bytes");
/// let token = jsonwebtoken::encode(
///     &jsonwebtoken::Header::default(),
///     &serde_json::json!({ "sub": "ada", "exp": 4_000_000_000u64 }),
///     &key,
/// );
/// assert!(token.is_ok());
/// ```
pub fn install_jwt_crypto() {
    // Err means a provider is installed already (ours or the app's):
    // either way tokens can be signed and verified.
    let _ = RING_PROVIDER.install_default();
}

static RING_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_of_private_key,
        rsa_pub_components_from_public_key: rsa_components_of_public_key,
        ec_pub_components_from_private_key: ec_components_of_private_key,
        ed_pub_components_from_private_key: ed_component_of_private_key,
        compute_digest,
    },
};

type SigResult<T> = Result<T, signature::Error>;

fn rsa_encoding(algorithm: Algorithm) -> Option<&'static dyn sig::RsaEncoding> {
    Some(match algorithm {
        Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_SHA512,
        _ => return None,
    })
}

fn rsa_parameters(algorithm: Algorithm) -> Option<&'static sig::RsaParameters> {
    Some(match algorithm {
        Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => return None,
    })
}

fn hmac_algorithm(algorithm: Algorithm) -> Option<hmac::Algorithm> {
    Some(match algorithm {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => None?,
    })
}

fn ecdsa_algorithms(
    algorithm: Algorithm,
) -> Option<(
    &'static sig::EcdsaSigningAlgorithm,
    &'static sig::EcdsaVerificationAlgorithm,
)> {
    Some(match algorithm {
        Algorithm::ES256 => (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &sig::ECDSA_P256_SHA256_FIXED,
        ),
        Algorithm::ES384 => (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            &sig::ECDSA_P384_SHA384_FIXED,
        ),
        _ => return None,
    })
}

/// A signing key, parsed once, for one algorithm.
enum SigningKey {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn sig::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

struct RingSigner {
    algorithm: Algorithm,
    key: SigningKey,
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, message: &[u8]) -> SigResult<Vec<u8>> {
        let rng = SystemRandom::new();
        match &self.key {
            SigningKey::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            SigningKey::Rsa(pair, encoding) => {
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(*encoding, &rng, message, &mut out)
                    .map_err(|_| signature::Error::new())?;
                Ok(out)
            }
            SigningKey::Ecdsa(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| signature::Error::new()),
            SigningKey::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn signer(
    algorithm: &Algorithm,
    key: &EncodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtSigner>> {
    let algorithm = *algorithm;
    if key.family() != algorithm.family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let bytes = key.as_bytes();
    let key = if let Some(hmac_alg) = hmac_algorithm(algorithm) {
        SigningKey::Hmac(hmac::Key::new(hmac_alg, bytes))
    } else if let Some(encoding) = rsa_encoding(algorithm) {
        SigningKey::Rsa(rsa_key_pair(bytes)?, encoding)
    } else if let Some((signing, _)) = ecdsa_algorithms(algorithm) {
        let pair = EcdsaKeyPair::from_pkcs8(signing, bytes, &SystemRandom::new())
            .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
        SigningKey::Ecdsa(pair)
    } else if algorithm == Algorithm::EdDSA {
        SigningKey::Ed25519(ed25519_key_pair(bytes)?)
    } else {
        return Err(ErrorKind::InvalidAlgorithm.into());
    };
    Ok(Box::new(RingSigner { algorithm, key }))
}

/// An RSA private key as PKCS#1 (what `jsonwebtoken`'s PEM reader
/// yields) or PKCS#8.
fn rsa_key_pair(der: &[u8]) -> jsonwebtoken::errors::Result<RsaKeyPair> {
    RsaKeyPair::from_der(der)
        .or_else(|_| RsaKeyPair::from_pkcs8(der))
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()).into())
}

fn ed25519_key_pair(der: &[u8]) -> jsonwebtoken::errors::Result<Ed25519KeyPair> {
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| ErrorKind::InvalidEddsaKey.into())
}

/// A verification key for one algorithm.
enum VerifyingKey {
    Hmac(hmac::Key),
    /// A public key as `ring` reads it (PKCS#1 RSA, an uncompressed EC
    /// point, a raw Ed25519 key).
    Public(&'static dyn sig::VerificationAlgorithm, Vec<u8>),
    RsaComponents(&'static sig::RsaParameters, RsaPublicKeyComponents<Vec<u8>>),
}

struct RingVerifier {
    algorithm: Algorithm,
    key: VerifyingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> SigResult<()> {
        match &self.key {
            VerifyingKey::Hmac(key) => hmac::verify(key, message, signature),
            VerifyingKey::Public(algorithm, bytes) => {
                sig::UnparsedPublicKey::new(*algorithm, bytes).verify(message, signature)
            }
            VerifyingKey::RsaComponents(parameters, components) => {
                components.verify(parameters, message, signature)
            }
        }
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

fn verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    let algorithm = *algorithm;
    if key.family() != algorithm.family() {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    let key = if let Some(hmac_alg) = hmac_algorithm(algorithm) {
        VerifyingKey::Hmac(hmac::Key::new(hmac_alg, key.try_get_as_bytes()?))
    } else if let Some(parameters) = rsa_parameters(algorithm) {
        match key.kind() {
            DecodingKeyKind::SecretOrDer(der) => VerifyingKey::Public(parameters, der.clone()),
            DecodingKeyKind::RsaModulusExponent { n, e } => VerifyingKey::RsaComponents(
                parameters,
                RsaPublicKeyComponents {
                    n: n.clone(),
                    e: e.clone(),
                },
            ),
        }
    } else if let Some((_, verifying)) = ecdsa_algorithms(algorithm) {
        VerifyingKey::Public(verifying, key.try_get_as_bytes()?.to_vec())
    } else if algorithm == Algorithm::EdDSA {
        VerifyingKey::Public(&sig::ED25519, key.try_get_as_bytes()?.to_vec())
    } else {
        return Err(ErrorKind::InvalidAlgorithm.into());
    };
    Ok(Box::new(RingVerifier { algorithm, key }))
}

fn rsa_components_of_private_key(der: &[u8]) -> jsonwebtoken::errors::Result<(Vec<u8>, Vec<u8>)> {
    let pair = rsa_key_pair(der)?;
    let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((components.n, components.e))
}

/// `n` and `e` of a PKCS#1 `RSAPublicKey` (`SEQUENCE { n INTEGER,
/// e INTEGER }`, DER). `ring` checks such keys when it verifies with them
/// but does not hand their parts out.
fn rsa_components_of_public_key(der: &[u8]) -> jsonwebtoken::errors::Result<(Vec<u8>, Vec<u8>)> {
    let bad = || Error::from(ErrorKind::InvalidRsaKey("not a DER RSAPublicKey".into()));
    let (body, rest) = der_element(der, 0x30).ok_or_else(bad)?;
    let (n, after_n) = der_element(body, 0x02).ok_or_else(bad)?;
    let (e, after_e) = der_element(after_n, 0x02).ok_or_else(bad)?;
    if !rest.is_empty() || !after_e.is_empty() {
        return Err(bad());
    }
    let unsigned = |int: &[u8]| match int {
        [0, rest @ ..] if !rest.is_empty() => rest.to_vec(),
        _ => int.to_vec(),
    };
    Ok((unsigned(n), unsigned(e)))
}

/// The contents of the DER element with `tag` at the start of `input`,
/// and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, input) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&length_byte, input) = input.split_first()?;
    let (length, input) = if length_byte < 0x80 {
        (usize::from(length_byte), input)
    } else {
        let octets = usize::from(length_byte & 0x7f);
        if octets == 0 || octets > std::mem::size_of::<usize>() || input.len() < octets {
            return None;
        }
        let (length_bytes, input) = input.split_at(octets);
        let length = length_bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (length, input)
    };
    (input.len() >= length).then(|| input.split_at(length))
}

fn ec_components_of_private_key(
    der: &[u8],
    algorithm: Algorithm,
) -> jsonwebtoken::errors::Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let curve = match algorithm {
        Algorithm::ES256 => EllipticCurve::P256,
        Algorithm::ES384 => EllipticCurve::P384,
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let (signing, _) = ecdsa_algorithms(algorithm).ok_or(ErrorKind::InvalidEcdsaKey)?;
    let pair = EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
        .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
    // An uncompressed point: 0x04, then x and y of equal length.
    match pair.public_key().as_ref() {
        [4, point @ ..] => {
            let (x, y) = point.split_at(point.len() / 2);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

fn ed_component_of_private_key(
    der: &[u8],
    curve: &EllipticCurve,
) -> jsonwebtoken::errors::Result<Vec<u8>> {
    match curve {
        EllipticCurve::Ed25519 => Ok(ed25519_key_pair(der)?.public_key().as_ref().to_vec()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> jsonwebtoken::errors::Result<Vec<u8>> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(digest::digest(algorithm, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_fixture() -> RsaKeyPair {
        let pem = include_bytes!("../../tests/fixtures/rs256.pem");
        rsa_key_pair(EncodingKey::from_rsa_pem(pem).unwrap().as_bytes()).unwrap()
    }

    #[test]
    fn a_public_key_s_parts_are_read_back_from_its_der() {
        let pair = rsa_fixture();
        let expected = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let (n, e) = rsa_components_of_public_key(pair.public().as_ref()).unwrap();
        assert_eq!((n, e), (expected.n, expected.e));
    }

    #[test]
    fn malformed_public_keys_are_refused_not_misread() {
        let pair = rsa_fixture();
        let der = pair.public().as_ref();
        for bad in [
            &der[..der.len() - 1],
            &[der, &[0][..]].concat()[..],
            &[0x31, 0x00][..],
            &[][..],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        ] {
            assert!(rsa_components_of_public_key(bad).is_err(), "{bad:02x?}");
        }
    }

    #[test]
    fn a_key_of_the_wrong_family_signs_and_verifies_nothing() {
        let secret = EncodingKey::from_secret(b"a secret");
        assert!(signer(&Algorithm::RS256, &secret).is_err());
        let secret = DecodingKey::from_secret(b"a secret");
        assert!(verifier(&Algorithm::ES256, &secret).is_err());
    }
}
