//! Retry policies: Temporal's defaults and the next-attempt decision shared
//! by activities and workflows.
use orrery_core::time::{duration, duration_millis};
use orrery_proto::api::common::v1::RetryPolicy;
use orrery_proto::api::enums::v1::RetryState;
use orrery_proto::api::failure::v1::Failure;
use orrery_proto::api::failure::v1::failure::FailureInfo;

/// Fills unset fields as the real server does: 1 s initial interval,
/// coefficient 2, maximum interval 100 × initial, unlimited attempts.
pub fn with_defaults(policy: Option<RetryPolicy>) -> RetryPolicy {
    let mut p = policy.unwrap_or_default();
    let initial = match duration_millis(p.initial_interval.as_ref()) {
        0 => 1000,
        ms => ms,
    };
    p.initial_interval = Some(duration(initial));
    if p.backoff_coefficient == 0.0 {
        p.backoff_coefficient = 2.0;
    }
    if duration_millis(p.maximum_interval.as_ref()) == 0 {
        p.maximum_interval = Some(duration(initial * 100));
    }
    p
}

#[derive(Debug, PartialEq)]
pub enum RetryDecision {
    Retry { backoff_ms: i64 },
    Stop(RetryState),
}

/// Whether attempt `attempt` (which just failed with `failure`) is retried,
/// and after how long. `expiration_ms` is the absolute deadline (0: none).
pub fn next_retry(
    policy: Option<&RetryPolicy>,
    attempt: i32,
    failure: Option<&Failure>,
    now_ms: i64,
    expiration_ms: i64,
) -> RetryDecision {
    let Some(p) = policy else {
        return RetryDecision::Stop(RetryState::RetryPolicyNotSet);
    };
    if let Some(FailureInfo::ApplicationFailureInfo(app)) =
        failure.and_then(|f| f.failure_info.as_ref())
        && (app.non_retryable || p.non_retryable_error_types.contains(&app.r#type))
    {
        return RetryDecision::Stop(RetryState::NonRetryableFailure);
    }
    if p.maximum_attempts > 0 && attempt >= p.maximum_attempts {
        return RetryDecision::Stop(RetryState::MaximumAttemptsReached);
    }
    let initial = duration_millis(p.initial_interval.as_ref()).max(1) as f64;
    let coefficient = if p.backoff_coefficient < 1.0 {
        1.0
    } else {
        p.backoff_coefficient
    };
    let mut backoff = initial * coefficient.powi((attempt - 1).clamp(0, 64));
    let max = duration_millis(p.maximum_interval.as_ref());
    if max > 0 {
        backoff = backoff.min(max as f64);
    }
    let backoff_ms = backoff.min(i64::MAX as f64 / 2.0) as i64;
    if expiration_ms > 0 && now_ms + backoff_ms >= expiration_ms {
        return RetryDecision::Stop(RetryState::Timeout);
    }
    RetryDecision::Retry { backoff_ms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orrery_proto::api::failure::v1::ApplicationFailureInfo;

    fn app_failure(r#type: &str, non_retryable: bool) -> Failure {
        Failure {
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: r#type.into(),
                    non_retryable,
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = with_defaults(Some(RetryPolicy {
            initial_interval: Some(duration(100)),
            maximum_interval: Some(duration(350)),
            ..Default::default()
        }));
        let at = |n| next_retry(Some(&p), n, None, 0, 0);
        assert_eq!(at(1), RetryDecision::Retry { backoff_ms: 100 });
        assert_eq!(at(2), RetryDecision::Retry { backoff_ms: 200 });
        assert_eq!(at(3), RetryDecision::Retry { backoff_ms: 350 });
    }

    #[test]
    fn stops_for_attempts_types_and_deadline() {
        let p = with_defaults(Some(RetryPolicy {
            maximum_attempts: 2,
            non_retryable_error_types: vec!["Fatal".into()],
            ..Default::default()
        }));
        assert_eq!(
            next_retry(Some(&p), 2, None, 0, 0),
            RetryDecision::Stop(RetryState::MaximumAttemptsReached)
        );
        assert_eq!(
            next_retry(Some(&p), 1, Some(&app_failure("Fatal", false)), 0, 0),
            RetryDecision::Stop(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            next_retry(Some(&p), 1, Some(&app_failure("Other", true)), 0, 0),
            RetryDecision::Stop(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            next_retry(Some(&p), 1, None, 0, 500),
            RetryDecision::Stop(RetryState::Timeout)
        );
        assert_eq!(
            next_retry(None, 1, None, 0, 0),
            RetryDecision::Stop(RetryState::RetryPolicyNotSet)
        );
    }
}
