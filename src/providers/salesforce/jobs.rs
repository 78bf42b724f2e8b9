//! Waiting for a Bulk API 2.0 job (ingest or query) to finish. Bulk jobs run at Salesforce's
//! pace and its protocol is to poll the job's state; the polls back off exponentially with
//! jitter (backon, 100 ms doubling up to 5 s), so a job done in a moment costs one short wait
//! and a long one a poll every few seconds, up to a bounded number of polls. Each poll is an
//! ordinary call through the upstream stack (limits, retries, breaker).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Deserialize;

use crate::{
    providers::Provider,
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{API_VERSION, SalesforceProvider, error};

/// Polls before giving up on a job: with the backoff's 5 s ceiling, about five minutes.
const POLLS: usize = 64;

/// A bulk job's kind, as its path names it.
#[derive(Debug, Clone, Copy)]
pub enum JobKind {
    Ingest,
    Query,
}

impl JobKind {
    fn path(self) -> &'static str {
        match self {
            JobKind::Ingest => "ingest",
            JobKind::Query => "query",
        }
    }

    fn op(self) -> &'static str {
        match self {
            JobKind::Ingest => "bulk.ingest.poll",
            JobKind::Query => "bulk.query.poll",
        }
    }
}

/// A job's info, as far as waiting goes.
#[derive(Debug, Deserialize)]
pub struct JobInfo {
    pub id: String,
    pub state: String,
}

/// `/services/data/vXX.X/jobs/{kind}/{id}{rest}`.
pub fn job_path(kind: JobKind, id: &str, rest: &str) -> String {
    format!(
        "/services/data/{API_VERSION}/jobs/{}/{id}{rest}",
        kind.path()
    )
}

impl SalesforceProvider {
    /// Polls job `id` until it is `JobComplete`; a job that fails, is aborted or outlasts the
    /// polls is an error.
    pub(super) async fn finished(
        &self,
        target: Target,
        kind: JobKind,
        id: &str,
    ) -> Result<(), ProviderError> {
        let failed = |message: String| {
            ProviderError::new(
                ErrorKind::Upstream,
                Provider::Salesforce,
                kind.op(),
                message,
            )
        };
        let poll = Call::get(kind.op(), job_path(kind, id, ""));
        let mut pauses = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .with_max_times(POLLS)
            .build();
        loop {
            let info: JobInfo = self
                .upstream
                .send(target, &poll, error::classify)
                .await?
                .json(Provider::Salesforce, poll.op)?;
            match info.state.as_str() {
                "JobComplete" => return Ok(()),
                "Failed" | "Aborted" => {
                    return Err(failed(format!("the bulk job ended {}", info.state)));
                }
                _ => match pauses.next() {
                    Some(pause) => tokio::time::sleep(pause).await,
                    None => return Err(failed("the bulk job did not finish in time".into())),
                },
            }
        }
    }
}
