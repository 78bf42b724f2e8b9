//! Slack's rate limits: each Web API method has a tier, counted per workspace and method over a
//! rolling minute. Where the integration spec names a figure it is the one used (chat.postMessage
//! Tier 3, conversations.list Tier 2, users.info Tier 4); the other methods have the tier Slack's
//! method reference gives them. chat.postMessage also has its special limit: about one message
//! per second per channel with short bursts, counted here as at most 5 in any rolling 5 seconds.

use chrono::Duration;

use super::store::Workspace;

/// Requests per minute of each tier (the documented floors: "20+ per minute" is 20).
pub const TIER_1: u32 = 1;
pub const TIER_2: u32 = 20;
pub const TIER_3: u32 = 50;
pub const TIER_4: u32 = 100;
/// auth.test: "hundreds of requests per minute".
pub const AUTH_TEST: u32 = 300;
/// chat.postMessage per channel: messages per rolling window of this many seconds.
pub const PER_CHANNEL: u32 = 5;
pub const PER_CHANNEL_WINDOW_S: i64 = 5;

/// A method's requests per minute per workspace.
pub fn per_minute(method: &str) -> u32 {
    match method {
        "conversations.list" | "users.list" => TIER_2,
        "chat.postMessage"
        | "chat.update"
        | "chat.delete"
        | "reactions.add"
        | "conversations.history"
        | "conversations.replies"
        | "conversations.info"
        | "users.lookupByEmail"
        | "auth.revoke" => TIER_3,
        "users.info" | "conversations.members" => TIER_4,
        "auth.test" => AUTH_TEST,
        _ => TIER_1,
    }
}

/// Counts a call; `Err(seconds)` when it is over a limit, with when to retry.
pub fn hit(
    workspace: &mut Workspace,
    method: &'static str,
    channel: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), u64> {
    let team = workspace.team_id.clone();
    let seconds = |d: Duration| (d.num_milliseconds().max(0) as u64).div_ceil(1000);
    if let Some(channel) = channel {
        let key = format!("{team}/{channel}");
        let count = workspace.windows.count(
            &key,
            "chat.postMessage/channel",
            Duration::seconds(PER_CHANNEL_WINDOW_S),
            now,
        );
        if count >= PER_CHANNEL {
            let state = workspace.windows.hit(
                &key,
                "chat.postMessage/channel",
                PER_CHANNEL,
                Duration::seconds(PER_CHANNEL_WINDOW_S),
                now,
            );
            return Err(seconds(state.retry_after));
        }
    }
    let minute =
        workspace
            .windows
            .hit(&team, method, per_minute(method), Duration::minutes(1), now);
    if !minute.allowed {
        return Err(seconds(minute.retry_after));
    }
    if let Some(channel) = channel {
        workspace.windows.hit(
            &format!("{team}/{channel}"),
            "chat.postMessage/channel",
            PER_CHANNEL,
            Duration::seconds(PER_CHANNEL_WINDOW_S),
            now,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_follow_the_spec_and_the_method_reference() {
        assert_eq!(per_minute("chat.postMessage"), 50);
        assert_eq!(per_minute("conversations.list"), 20);
        assert_eq!(per_minute("users.info"), 100);
        assert_eq!(per_minute("conversations.history"), 50);
        assert_eq!(per_minute("chat.update"), 50);
        assert_eq!(per_minute("chat.delete"), 50);
        assert_eq!(per_minute("reactions.add"), 50);
        assert_eq!(per_minute("conversations.members"), 100);
    }

    #[test]
    fn a_channel_takes_a_burst_then_one_a_second() {
        let mut w = Workspace::seeded("T0SBX0001");
        let t0 = chrono::Utc::now();
        for _ in 0..PER_CHANNEL {
            assert!(hit(&mut w, "chat.postMessage", Some("C1"), t0).is_ok());
        }
        assert_eq!(hit(&mut w, "chat.postMessage", Some("C1"), t0), Err(5));
        assert!(hit(&mut w, "chat.postMessage", Some("C2"), t0).is_ok());
        let later = t0 + Duration::seconds(PER_CHANNEL_WINDOW_S);
        assert!(hit(&mut w, "chat.postMessage", Some("C1"), later).is_ok());
    }
}
