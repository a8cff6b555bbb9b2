//! Registers Moat's functions in one region's moto Lambda, as Terraform
//! deploys them: a role per function, the function with the runtime,
//! architecture, timeout, memory and exactly the environment
//! `infra/stack.json` declares, a published version and the `live` alias.
//!
//! This is a registration for the operator commands that read or change
//! the functions' configuration (preflight, drift, `restore records`'
//! switch of the records table), nothing more. The code never runs in
//! moto: locally the functions run as processes under sfn-local
//! (`crate::pipeline`), so each registered zip holds only a note saying so
//! and naming the local binary's SHA-256.
//!
//! Registering twice changes nothing: a role or function that exists is
//! left as it is, publishing unchanged code gives the same version, and the
//! alias is moved to it.

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_iam as iam;
use aws_sdk_lambda as lambda;
use aws_sdk_lambda::error::ProvideErrorMetadata;
use moat_stack::StackSpec;
use sha2::{Digest, Sha256};

use crate::{ACCOUNT, Error, RegionStack, aws_error};

/// Who may assume a function's role: Lambda, as in Terraform.
const TRUST_POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// Registers every function of `spec` in `stack`'s region. `functions_dir`
/// holds the locally built binaries, named like the functions; a missing
/// one is noted as "not built" rather than refused, since nothing runs it.
pub async fn register_functions(
    spec: &StackSpec,
    stack: &RegionStack,
    functions_dir: &Path,
) -> Result<(), Error> {
    let region = stack.region();
    let iam = iam::Client::new(&stack.config);
    let lambda = lambda::Client::new(&stack.config);
    for (function, function_spec) in &spec.functions {
        let role_arn = create_role(&iam, region, &spec.function_role_of(function, region)).await?;
        let name = spec.function_name_of(function);
        let environment: HashMap<String, String> = stack
            .function_env(spec, function)?
            .into_iter()
            .filter(|(variable, _)| !variable.starts_with("AWS_") && variable != "RUST_LOG")
            .collect();
        let note = note(function, &functions_dir.join(function))?;
        let created = lambda
            .create_function()
            .function_name(&name)
            .description(format!("Moat {function}"))
            .role(role_arn)
            .runtime(lambda::types::Runtime::Providedal2023)
            .handler("bootstrap")
            .architectures(lambda::types::Architecture::Arm64)
            .timeout(as_i32(function_spec.timeout_seconds))
            .memory_size(as_i32(function_spec.memory_mb))
            .environment(
                lambda::types::Environment::builder()
                    .set_variables(Some(environment))
                    .build(),
            )
            .code(
                lambda::types::FunctionCode::builder()
                    .zip_file(lambda::primitives::Blob::new(stored_zip(
                        "bootstrap.txt",
                        note.as_bytes(),
                    )))
                    .build(),
            )
            .send()
            .await;
        if let Err(error) = created
            && error.code() != Some("ResourceConflictException")
        {
            return Err(aws_error("CreateFunction", region, error));
        }
        let version = lambda
            .publish_version()
            .function_name(&name)
            .send()
            .await
            .map_err(|error| aws_error("PublishVersion", region, error))?
            .version
            .unwrap_or_else(|| "$LATEST".to_owned());
        set_alias(&lambda, region, &name, &spec.function_alias, &version).await?;
    }
    Ok(())
}

/// The role's ARN, creating it unless it exists.
async fn create_role(client: &iam::Client, region: &str, role: &str) -> Result<String, Error> {
    let created = client
        .create_role()
        .role_name(role)
        .assume_role_policy_document(TRUST_POLICY)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(error) if error.code() == Some("EntityAlreadyExists") => {}
        Err(error) => return Err(aws_error("CreateRole", region, error)),
    }
    Ok(format!("arn:aws:iam::{ACCOUNT}:role/{role}"))
}

/// Points `alias` at `version`, creating the alias the first time.
async fn set_alias(
    client: &lambda::Client,
    region: &str,
    function: &str,
    alias: &str,
    version: &str,
) -> Result<(), Error> {
    let created = client
        .create_alias()
        .function_name(function)
        .name(alias)
        .function_version(version)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                error.code(),
                Some("ConflictException" | "ResourceConflictException")
            ) =>
        {
            client
                .update_alias()
                .function_name(function)
                .name(alias)
                .function_version(version)
                .send()
                .await
                .map_err(|error| aws_error("UpdateAlias", region, error))?;
            Ok(())
        }
        Err(error) => Err(aws_error("CreateAlias", region, error)),
    }
}

/// What the registered zip says about the function's code.
fn note(function: &str, binary: &Path) -> Result<String, Error> {
    let sha256 = match std::fs::read(binary) {
        Ok(bytes) => format!("sha256 {:x}", Sha256::digest(&bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => "not built".to_owned(),
        Err(error) => {
            return Err(Error::Definition {
                path: binary.to_owned(),
                message: format!("reading the function binary: {error}"),
            });
        }
    };
    Ok(format!(
        "Moat's {function} function runs under sfn-local on this machine, not in moto's Lambda; \
         this registration only lets the operator commands read and change its configuration.\n\
         binary: {} ({sha256})\n",
        binary.display()
    ))
}

/// A spec's seconds or megabytes as the SDK's `i32`; stack.json's values
/// are small, so a larger one is clamped rather than refused (Lambda then
/// refuses it, naming the limit).
fn as_i32(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

/// A zip archive holding `contents` as one STORED (uncompressed) entry:
/// the smallest thing Lambda's CreateFunction accepts as code, written by
/// hand because the local stack has no zip library (PKWARE APPNOTE 6.3.10:
/// local header, data, central directory header, end record; DOS time
/// 1980-01-01 so the bytes depend on the input only).
fn stored_zip(name: &str, contents: &[u8]) -> Vec<u8> {
    let name = name.as_bytes();
    let name_len = u16::try_from(name.len()).expect("a short entry name");
    let size = u32::try_from(contents.len()).expect("a small note");
    let crc = crc32(contents);
    let entry_fields = |zip: &mut Vec<u8>| {
        put16(zip, 0); // flags
        put16(zip, 0); // method: stored
        put16(zip, 0); // DOS time 00:00:00
        put16(zip, (1 << 5) | 1); // DOS date 1980-01-01
        put32(zip, crc);
        put32(zip, size); // compressed size
        put32(zip, size);
        put16(zip, name_len);
        put16(zip, 0); // extra field length
    };
    let mut zip = Vec::new();
    put32(&mut zip, 0x0403_4b50);
    put16(&mut zip, 10); // version needed: 1.0, stored
    entry_fields(&mut zip);
    zip.extend_from_slice(name);
    zip.extend_from_slice(contents);
    let directory_start = u32::try_from(zip.len()).expect("a small archive");
    put32(&mut zip, 0x0201_4b50);
    put16(&mut zip, (3 << 8) | 10); // made by: Unix, 1.0
    put16(&mut zip, 10);
    entry_fields(&mut zip);
    put16(&mut zip, 0); // comment length
    put16(&mut zip, 0); // disk number start
    put16(&mut zip, 0); // internal attributes
    put32(&mut zip, (0o100_644) << 16); // a regular file, rw-r--r--
    put32(&mut zip, 0); // offset of the local header
    zip.extend_from_slice(name);
    let directory_size = u32::try_from(zip.len()).expect("a small archive") - directory_start;
    put32(&mut zip, 0x0605_4b50);
    put16(&mut zip, 0); // this disk
    put16(&mut zip, 0); // disk with the central directory
    put16(&mut zip, 1); // entries on this disk
    put16(&mut zip, 1); // entries in all
    put32(&mut zip, directory_size);
    put32(&mut zip, directory_start);
    put16(&mut zip, 0); // comment length
    zip
}

/// CRC-32 (IEEE, reflected, as zip uses), bit by bit: the note is a few
/// hundred bytes.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
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

    #[test]
    fn crc32_is_the_zip_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_note_names_the_binary_by_its_sha256() {
        let binary = std::env::temp_dir().join(format!("moat-note-{}", std::process::id()));
        std::fs::write(&binary, b"abc").unwrap();
        let built = note("detect", &binary).unwrap();
        std::fs::remove_file(&binary).unwrap();
        assert!(
            built.contains(
                "sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            ),
            "{built}"
        );
        assert!(built.contains("runs under sfn-local"), "{built}");
        assert!(note("detect", &binary).unwrap().contains("(not built)"));
    }

    #[test]
    fn the_zip_holds_the_entry_uncompressed() {
        let zip = stored_zip("bootstrap.txt", b"hello");
        assert_eq!(&zip[..4], b"PK\x03\x04");
        assert_eq!(&zip[30..43], b"bootstrap.txt");
        assert_eq!(&zip[43..48], b"hello");
        assert_eq!(&zip[zip.len() - 22..zip.len() - 18], b"PK\x05\x06");
    }
}
