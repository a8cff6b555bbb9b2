//! A Distributed Map's ResultWriter: the children's executions written to
//! S3 in AWS's layout, `<Prefix>/<map run id>/SUCCEEDED_0.json`,
//! `FAILED_0.json` and `PENDING_0.json` (each a JSON array of execution
//! records, written only when it has any), then `manifest.json` naming
//! them; the Map's result is then `{"MapRunArn", "ResultWriterDetails":
//! {"Bucket", "Key"}}` with the manifest's key.

use serde_json::{Value, json};

use super::Child;
use crate::executor::context::StateContext;
use crate::executor::{ExecutionStatus, Run};
use crate::failure::Failure;

/// The error of a ResultWriter that could not write its files.
const WRITER_FAILED: &str = "States.ResultWriterFailed";

/// Where the files go: the bucket and `<Prefix>/<map run id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Destination {
    pub bucket: String,
    pub folder: String,
}

impl Destination {
    /// The ResultWriter's `Parameters`, filled from the effective input.
    pub(super) fn resolve(
        parameters: &crate::template::Template,
        effective: &Value,
        sc: &StateContext<'_>,
        map_run_id: &str,
    ) -> Result<Self, Failure> {
        let filled = sc.fill(parameters, effective)?;
        let bucket = filled.get("Bucket").map(crate::unquoted).ok_or_else(|| {
            Failure::new(
                WRITER_FAILED,
                Some("The ResultWriter's Parameters have no Bucket".to_owned()),
            )
        })?;
        let prefix = filled
            .get("Prefix")
            .map(crate::unquoted)
            .unwrap_or_default();
        Ok(Self {
            bucket,
            folder: folder(&prefix, map_run_id),
        })
    }
}

/// `<prefix>/<map run id>/`, with one slash between them however the
/// prefix ends, and none before an empty prefix.
fn folder(prefix: &str, map_run_id: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        format!("{map_run_id}/")
    } else {
        format!("{prefix}/{map_run_id}/")
    }
}

/// The file each child's record goes into.
fn file_of(child: &Child) -> &'static str {
    match child.result.as_ref().map(|r| r.description.status) {
        None => "PENDING",
        Some(ExecutionStatus::Succeeded) => "SUCCEEDED",
        Some(_) => "FAILED",
    }
}

/// A child's record in a results file: its `DescribeExecution` in
/// PascalCase, input and output as JSON text; a child that never started
/// has only its input.
pub(super) fn record(child: &Child) -> Value {
    let Some(result) = &child.result else {
        return json!({
            "Input": child.input.to_string(),
            "InputDetails": {"Included": true},
            "Status": "PENDING",
        });
    };
    let d = &result.description;
    let status = serde_json::to_value(d.status).expect("a status is a string");
    let mut out = json!({
        "ExecutionArn": d.execution_arn,
        "Input": d.input,
        "InputDetails": {"Included": true},
        "Name": d.name,
        "RedriveCount": 0,
        "StartDate": d.start_date,
        "StateMachineArn": d.state_machine_arn,
        "Status": status,
        "StopDate": d.stop_date,
    });
    if d.status == ExecutionStatus::Succeeded {
        out["RedriveStatus"] = json!("NOT_REDRIVABLE");
        out["RedriveStatusReason"] = json!("Execution is SUCCEEDED and cannot be redriven");
    } else {
        out["RedriveStatus"] = json!("REDRIVABLE_BY_MAP_RUN");
    }
    let optional = [
        ("Output", &d.output),
        ("Error", &d.error),
        ("Cause", &d.cause),
    ];
    for (field, value) in optional {
        if let Some(value) = value {
            out[field] = json!(value);
        }
    }
    if d.output.is_some() {
        out["OutputDetails"] = json!({"Included": true});
    }
    out
}

/// The results files: for each of SUCCEEDED, FAILED and PENDING that has
/// records, its key and its JSON text.
pub(super) fn files(
    children: &[Child],
    destination: &Destination,
) -> Vec<(String, String, String)> {
    ["SUCCEEDED", "FAILED", "PENDING"]
        .into_iter()
        .filter_map(|kind| {
            let records: Vec<Value> = children
                .iter()
                .filter(|c| file_of(c) == kind)
                .map(record)
                .collect();
            (!records.is_empty()).then(|| {
                let key = format!("{}{kind}_0.json", destination.folder);
                (kind.to_owned(), key, Value::Array(records).to_string())
            })
        })
        .collect()
}

/// `manifest.json`: the bucket, the Map Run, and each file's key and size.
pub(super) fn manifest(
    files: &[(String, String, String)],
    destination: &Destination,
    map_run_arn: &str,
) -> Value {
    let mut result_files = json!({"FAILED": [], "PENDING": [], "SUCCEEDED": []});
    for (kind, key, body) in files {
        if let Some(list) = result_files[kind.as_str()].as_array_mut() {
            list.push(json!({"Key": key, "Size": body.len()}));
        }
    }
    json!({
        "DestinationBucket": destination.bucket,
        "MapRunArn": map_run_arn,
        "ResultFiles": result_files,
    })
}

impl Run {
    /// Writes the results files and the manifest, and gives the Map's
    /// result: the Map Run and the manifest's place.
    pub(super) async fn write_results(
        &self,
        children: &[Child],
        destination: &Destination,
        map_run_arn: &str,
    ) -> Result<Value, Failure> {
        let files = files(children, destination);
        for (_, key, body) in &files {
            self.put(destination, key, body.clone().into_bytes())
                .await?;
        }
        let manifest = manifest(&files, destination, map_run_arn);
        let key = format!("{}manifest.json", destination.folder);
        self.put(destination, &key, manifest.to_string().into_bytes())
            .await?;
        Ok(json!({
            "MapRunArn": map_run_arn,
            "ResultWriterDetails": {"Bucket": destination.bucket, "Key": key},
        }))
    }

    async fn put(
        &self,
        destination: &Destination,
        key: &str,
        body: Vec<u8>,
    ) -> Result<(), Failure> {
        let region = &self.inner.config.region;
        self.inner
            .integrations
            .s3_put_object(region, &destination.bucket, key, body)
            .await
            .map_err(|failure| match failure.error.as_str() {
                // No local endpoint: a setup problem, not a write that failed.
                "States.Runtime" => failure,
                error => Failure::new(
                    WRITER_FAILED,
                    Some(format!(
                        "writing s3://{}/{key} failed: {error}: {}",
                        destination.bucket,
                        failure.cause.unwrap_or_default()
                    )),
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folder_joins_prefix_and_map_run_id_with_one_slash() {
        assert_eq!(folder("results", "abc"), "results/abc/");
        assert_eq!(folder("results/", "abc"), "results/abc/");
        assert_eq!(folder("", "abc"), "abc/");
    }

    #[test]
    fn pending_children_keep_their_input_and_the_manifest_sizes_each_file() {
        let pending = Child {
            input: json!({"Items": [1]}),
            items: 1,
            result: None,
        };
        assert_eq!(record(&pending)["Status"], "PENDING");
        assert_eq!(record(&pending)["Input"], r#"{"Items":[1]}"#);
        let destination = Destination {
            bucket: "reports".to_owned(),
            folder: "p/id/".to_owned(),
        };
        let files = files(&[pending], &destination);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1, "p/id/PENDING_0.json");
        let manifest = manifest(&files, &destination, "arn:run");
        assert_eq!(manifest["ResultFiles"]["SUCCEEDED"], json!([]));
        assert_eq!(
            manifest["ResultFiles"]["PENDING"][0]["Size"],
            files[0].2.len()
        );
        assert_eq!(manifest["DestinationBucket"], "reports");
    }
}
