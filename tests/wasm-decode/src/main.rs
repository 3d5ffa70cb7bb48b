//! Decodes each archive given on the command line and prints `<content hash>  <file>`, with the
//! hash recomputed from the decoded values. Built natively and for wasm32-wasip1 (run under
//! Node's WASI) by scripts/wasm-decode-check.sh (a plain binary so that no dev-dependency has to build for WASI): equal output proves bit-identical decoding.

use baler_codec::format::metadata::hex;
use baler_codec::hash::content_hash;

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        match std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| baler_codec::decode(&b, None).map_err(|e| e.to_string()))
        {
            Ok(ds) => println!("{}  {}", hex(&content_hash(&ds)), path.rsplit('/').next().unwrap_or(&path)),
            Err(e) => {
                eprintln!("{path}: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
