//! What the error stream says at a session's end. From `v4.channel.k8s.io` on it is a
//! Kubernetes `Status` object in JSON, always written: `Success`, or `Failure` with reason
//! `NonZeroExitCode` and the code as an `ExitCode` cause (clients parse it as 0..=255), or
//! `InternalError`. Older protocols carry plain text, and only on failure.

use serde_json::json;

/// How a session's command ended, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Exit code 0.
    Success,
    /// A non-zero exit code, with the command for the message.
    Exited { code: i32, cmd: Vec<String> },
    /// The command could not run, or the session failed: `what` says what ("executing
    /// command in container"), `error` why.
    Failed { what: &'static str, error: String },
}

impl Outcome {
    /// The `Status` JSON for `v4.channel.k8s.io` and later.
    pub fn to_status_json(&self) -> Vec<u8> {
        let status = match self {
            Outcome::Success => json!({"metadata": {}, "status": "Success"}),
            Outcome::Exited { code, cmd } => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!(
                    "command terminated with non-zero exit code: error executing command {cmd:?}, exit code {code}"
                ),
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
            }),
            Outcome::Failed { what, error } => json!({
                "metadata": {},
                "status": "Failure",
                "message": format!("Internal error occurred: error {what}: {error}"),
                "reason": "InternalError",
                "details": {"causes": [{"message": error}]},
                "code": 500,
            }),
        };
        status.to_string().into_bytes()
    }

    /// The text for protocols before v4: nothing on success.
    pub fn to_text(&self) -> Option<Vec<u8>> {
        match self {
            Outcome::Success => None,
            Outcome::Exited { code, cmd } => Some(
                format!("command {cmd:?} terminated with non-zero exit code {code}").into_bytes(),
            ),
            Outcome::Failed { what, error } => Some(format!("error {what}: {error}").into_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> serde_json::Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn a_non_zero_exit_carries_its_code_as_the_exit_code_cause() {
        let s = parse(
            &Outcome::Exited {
                code: 3,
                cmd: vec!["sh".into(), "-c".into(), "exit 3".into()],
            }
            .to_status_json(),
        );
        assert_eq!(s["status"], "Failure");
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(s["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(s["details"]["causes"][0]["message"], "3");
    }

    #[test]
    fn success_and_failure_read_as_kubernetes_statuses() {
        assert_eq!(
            parse(&Outcome::Success.to_status_json())["status"],
            "Success"
        );
        assert_eq!(Outcome::Success.to_text(), None);
        let failed = Outcome::Failed {
            what: "executing command in container",
            error: "container is gone".into(),
        };
        let s = parse(&failed.to_status_json());
        assert_eq!(
            (s["reason"].as_str(), s["code"].as_i64()),
            (Some("InternalError"), Some(500))
        );
        assert!(s["message"].as_str().unwrap().contains("container is gone"));
        assert!(
            String::from_utf8(failed.to_text().unwrap())
                .unwrap()
                .contains("container is gone")
        );
    }
}
