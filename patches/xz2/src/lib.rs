//! `xz2::read::XzDecoder` for oxyroot, backed by lzma-rs (see Cargo.toml for why).

pub mod read {
    use std::io::{self, BufReader, Cursor, Read};

    /// Decompresses an XZ stream; the whole stream is inflated on the first read (ROOT baskets
    /// are small and read whole).
    pub struct XzDecoder<R: Read> {
        inner: Option<R>,
        out: Cursor<Vec<u8>>,
    }

    impl<R: Read> XzDecoder<R> {
        pub fn new(r: R) -> Self {
            Self { inner: Some(r), out: Cursor::new(Vec::new()) }
        }
    }

    impl<R: Read> Read for XzDecoder<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if let Some(r) = self.inner.take() {
                let mut out = Vec::new();
                lzma_rs::xz_decompress(&mut BufReader::new(r), &mut out)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("xz: {e:?}")))?;
                self.out = Cursor::new(out);
            }
            self.out.read(buf)
        }
    }
}
