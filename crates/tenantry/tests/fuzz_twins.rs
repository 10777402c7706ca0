//! The fuzz targets' properties (`fuzz/properties.rs`) under proptest, on
//! the stable toolchain, so CI checks them on every run: random bytes, plus
//! inputs shaped like what each edge expects (hosts under the base domain,
//! `/t/` paths, keys, signature headers), plus the committed corpora's
//! every entry (`fuzz/corpus/<target>/`), which replays what libFuzzer
//! found interesting in its long runs.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

#[path = "../../../fuzz/properties.rs"]
mod properties;

use proptest::prelude::*;

/// Bytes drawn mostly from characters that matter to the parsers under
/// test, so random inputs reach past the first check.
fn shaped(alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            3 => prop::sample::select(alphabet),
            1 => any::<u8>(),
        ],
        0..96,
    )
}

const HOSTISH: &[u8] = b"acme.app.example:8080[]::1.AZaz09-_ \t";
const PATHISH: &[u8] = b"/t/acme/api/orders?limit=5&%2F..\\\x00";
const KEYISH: &[u8] = b"invoices/42/scan.pdf./..\\\x07\x7f";
const SIGNATUREISH: &[u8] = b"t=1800000000,v1=0123456789abcdef \xff";
const TOKENISH: &[u8] = b"eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJhY21lIn0.-_=";

/// Every committed corpus entry of `target`, run through `check`.
fn replay_corpus(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus {} is committed: {e}", dir.display()));
    let mut count = 0;
    for entry in entries.flatten() {
        check(&std::fs::read(entry.path()).unwrap());
        count += 1;
    }
    assert!(count > 0, "{} is empty", dir.display());
}

macro_rules! twin {
    ($name:ident, $alphabet:expr) => {
        mod $name {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases(2_000))]

                #[test]
                fn holds_for_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
                    properties::$name(&bytes);
                }

                #[test]
                fn holds_for_shaped_input(bytes in shaped($alphabet)) {
                    properties::$name(&bytes);
                }
            }

            #[test]
            fn holds_for_the_committed_corpus() {
                replay_corpus(stringify!($name), properties::$name);
            }
        }
    };
}

twin!(host, HOSTISH);
twin!(path_prefix, PATHISH);
twin!(jwt, TOKENISH);
twin!(object_key, KEYISH);
twin!(signed_url, KEYISH);
twin!(webhook_signature, SIGNATUREISH);
