//! A reproducible zip archive holding one executable file, the shape Lambda
//! wants for a `provided.al2023` function: one `bootstrap` entry.
//!
//! Written by hand rather than with a zip library so that every byte is
//! visibly fixed here: the archive depends on the file's name and contents
//! only, never on the clock, the file's mtime or permissions, the user or
//! the host. The same input gives the same bytes, so the archive's SHA-256
//! (Terraform's `source_code_hash`) changes exactly when the code does.
//!
//! Layout (PKWARE APPNOTE 6.3.10): one local file header, the deflated data,
//! one central directory header, the end-of-central-directory record. No
//! extra fields (they are where zip tools put timestamps and uid/gid), no
//! data descriptor, no comment, no ZIP64 (an entry must stay under 4 GiB;
//! Lambda's own limit is 250 MB unzipped).

use std::io::Write;

use anyhow::Context;
use flate2::Compression;
use flate2::write::DeflateEncoder;

/// Unix permissions of the entry, whatever the input file had: Lambda runs
/// `bootstrap` as an executable, and nothing else about the file is kept.
pub(crate) const MODE: u32 = 0o755;

/// The earliest time a zip can hold (DOS time): 1980-01-01 00:00:00.
const DOS_TIME: u16 = 0;
const DOS_DATE: u16 = (1 << 5) | 1; // year 1980 (0), month 1, day 1

/// "Version made by": high byte 3 is Unix, so readers take the permissions
/// from the external attributes; low byte 20 is spec version 2.0, the first
/// with deflate.
const MADE_BY_UNIX: u16 = (3 << 8) | 20;
const VERSION_NEEDED: u16 = 20;
const METHOD_DEFLATE: u16 = 8;
/// A regular file (`S_IFREG`) with [`MODE`], in the high half of the
/// external attributes, as Info-ZIP and Python read them.
const EXTERNAL_ATTRIBUTES: u32 = (0o100_000 | MODE) << 16;

/// The zip archive holding `contents` as one executable entry `name`.
pub(crate) fn single_executable(name: &str, contents: &[u8]) -> anyhow::Result<Vec<u8>> {
    let name = name.as_bytes();
    let name_len = u16::try_from(name.len()).context("the entry name is too long for a zip")?;
    let size = u32::try_from(contents.len()).with_context(|| {
        format!(
            "{} bytes is too large for a zip without ZIP64",
            contents.len()
        )
    })?;
    let mut crc = flate2::Crc::new();
    crc.update(contents);
    let crc = crc.sum();
    // Level 9 is fixed, not the library default, so that a change of the
    // default cannot change the archive.
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::new(9));
    encoder.write_all(contents)?;
    let deflated = encoder.finish()?;
    let compressed =
        u32::try_from(deflated.len()).context("the deflated entry is too large for a zip")?;

    let mut zip = Vec::with_capacity(deflated.len() + 2 * name.len() + 128);
    // Local file header, at offset 0.
    put32(&mut zip, 0x0403_4b50);
    put16(&mut zip, VERSION_NEEDED);
    put_entry_fields(&mut zip, crc, compressed, size, name_len);
    put16(&mut zip, 0); // extra field length
    zip.extend_from_slice(name);
    zip.extend_from_slice(&deflated);

    let directory_start =
        u32::try_from(zip.len()).context("the archive is too large for a zip without ZIP64")?;
    // Central directory header.
    put32(&mut zip, 0x0201_4b50);
    put16(&mut zip, MADE_BY_UNIX);
    put16(&mut zip, VERSION_NEEDED);
    put_entry_fields(&mut zip, crc, compressed, size, name_len);
    put16(&mut zip, 0); // extra field length
    put16(&mut zip, 0); // comment length
    put16(&mut zip, 0); // disk number start
    put16(&mut zip, 0); // internal attributes (binary)
    put32(&mut zip, EXTERNAL_ATTRIBUTES);
    put32(&mut zip, 0); // offset of the local header
    zip.extend_from_slice(name);
    let directory_size = u32::try_from(zip.len())? - directory_start;

    // End of central directory.
    put32(&mut zip, 0x0605_4b50);
    put16(&mut zip, 0); // this disk
    put16(&mut zip, 0); // disk with the central directory
    put16(&mut zip, 1); // entries on this disk
    put16(&mut zip, 1); // entries in all
    put32(&mut zip, directory_size);
    put32(&mut zip, directory_start);
    put16(&mut zip, 0); // comment length
    Ok(zip)
}

/// The fields the local and the central header share, from "general
/// purpose flags" to "file name length".
fn put_entry_fields(zip: &mut Vec<u8>, crc: u32, compressed: u32, size: u32, name_len: u16) {
    put16(zip, 0); // flags: no encryption, no data descriptor, ASCII name
    put16(zip, METHOD_DEFLATE);
    put16(zip, DOS_TIME);
    put16(zip, DOS_DATE);
    put32(zip, crc);
    put32(zip, compressed);
    put32(zip, size);
    put16(zip, name_len);
}

fn put16(zip: &mut Vec<u8>, value: u16) {
    zip.extend_from_slice(&value.to_le_bytes());
}

fn put32(zip: &mut Vec<u8>, value: u32) {
    zip.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::process::Command;

    /// What Python's zipfile, a reader independent of this writer, sees in
    /// an archive: each entry's name, Unix mode, date, creator system and
    /// method, and whether every entry's CRC checks out.
    /// `test` names the scratch directory, apart from other tests running
    /// at the same time.
    fn python_listing(test: &str, zip: &[u8]) -> String {
        let dir = std::env::temp_dir().join(format!("moat-zip-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bootstrap.zip");
        std::fs::write(&path, zip).unwrap();
        let script = "import sys, zipfile\n\
            z = zipfile.ZipFile(sys.argv[1])\n\
            for i in z.infolist():\n\
            \x20   print(i.filename, oct(i.external_attr >> 16), i.date_time, i.create_system, i.compress_type, i.file_size)\n\
            print('bad entry:', z.testzip())\n\
            print(z.read('bootstrap').decode())";
        let output = Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .output()
            .expect("python3 runs (the project needs it for moto)");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let contents = b"#!/bin/sh\necho hello\n".repeat(100);
        let first = single_executable("bootstrap", &contents).unwrap();
        let second = single_executable("bootstrap", &contents).unwrap();
        assert_eq!(first, second);
        assert_ne!(
            first,
            single_executable("bootstrap", b"other").unwrap(),
            "the archive depends on the contents"
        );
    }

    #[test]
    fn a_reader_sees_one_executable_bootstrap() {
        let zip = single_executable("bootstrap", b"#!/bin/sh\necho hello\n").unwrap();
        assert_eq!(
            python_listing("reader", &zip),
            "bootstrap 0o100755 (1980, 1, 1, 0, 0, 0) 3 8 21\n\
             bad entry: None\n\
             #!/bin/sh\necho hello\n\n"
        );
    }

    #[test]
    fn an_empty_file_is_a_valid_entry() {
        let zip = single_executable("bootstrap", b"").unwrap();
        assert!(
            python_listing("empty", &zip)
                .starts_with("bootstrap 0o100755 (1980, 1, 1, 0, 0, 0) 3 8 0\n")
        );
    }
}
