//! Session state machine tests, driven by a simulated clock.

use std::time::{Duration, Instant};

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn accepted(attach: Attach) -> ReceiverId {
    match attach {
        Attach::Accepted(id) => id,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

/// A session at `t0` whose first receiver already took the open frame and left.
fn opened(t0: Instant) -> Session {
    let mut s = Session::new(SessionConfig::default(), t0);
    let r = accepted(s.attach(t0));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some("o"));
    s.detach(r, Detach::Done, t0);
    s
}

fn closed(code: u16, reason: &str) -> Attach {
    Attach::Closed {
        code,
        reason: reason.to_owned(),
    }
}

#[test]
fn defaults_match_the_spec() {
    let c = SessionConfig::default();
    assert_eq!(c.heartbeat, secs(25));
    assert_eq!(c.disconnect_delay, secs(5));
    assert_eq!(c.response_limit, 131_072);
}

#[test]
fn first_attach_gets_open_then_messages_batched_in_one_frame() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    let r = accepted(s.attach(t0));
    s.push_message("a".into());
    s.push_message("b\"c".into());
    assert_eq!(s.pending_len(), 2);
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some("o"));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some(r#"a["a","b\"c"]"#));
    assert_eq!(s.pending_len(), 0);
    assert_eq!(s.poll_frame(r, t0), None);
    s.push_message("d".into());
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some(r#"a["d"]"#));
}

#[test]
fn second_concurrent_attach_gets_another_connection_open() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    let r1 = accepted(s.attach(t0));
    assert_eq!(s.attach(t0), Attach::AnotherConnectionOpen);
    assert_eq!(
        Attach::AnotherConnectionOpen.frame().as_deref(),
        Some(r#"c[2010,"Another connection still open"]"#)
    );
    // The first receiver is unaffected and the session stays open.
    assert!(s.has_receiver());
    assert!(!s.is_closed());
    assert_eq!(s.poll_frame(r1, t0).as_deref(), Some("o"));
}

#[test]
fn messages_pushed_without_receiver_reach_the_next_one_in_order() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    s.push_message("1".into());
    s.push_message("2".into());
    s.push_message("3".into());
    let r = accepted(s.attach(t0 + secs(1)));
    assert_eq!(
        s.poll_frame(r, t0 + secs(1)).as_deref(),
        Some(r#"a["1","2","3"]"#)
    );
    s.detach(r, Detach::Done, t0 + secs(1));
    s.push_message("4".into());
    let r = accepted(s.attach(t0 + secs(2)));
    assert_eq!(s.poll_frame(r, t0 + secs(2)).as_deref(), Some(r#"a["4"]"#));
}

#[test]
fn heartbeat_only_after_a_full_period_of_silence() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    let r = accepted(s.attach(t0));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some("o"));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(25)));

    assert_eq!(s.handle_timeout(t0 + secs(24)), None);
    assert_eq!(s.poll_frame(r, t0 + secs(24)), None);

    // A message resets the silence.
    s.push_message("m".into());
    assert_eq!(s.poll_frame(r, t0 + secs(24)).as_deref(), Some(r#"a["m"]"#));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(49)));
    assert_eq!(s.handle_timeout(t0 + secs(25)), None);
    assert_eq!(s.poll_frame(r, t0 + secs(25)), None);

    assert_eq!(s.handle_timeout(t0 + secs(49)), None);
    assert_eq!(s.poll_timeout(), None, "no timer while a heartbeat is owed");
    assert_eq!(s.poll_frame(r, t0 + secs(49)).as_deref(), Some("h"));
    assert_eq!(s.poll_frame(r, t0 + secs(49)), None);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(74)));
}

#[test]
fn waiting_polling_receiver_gets_heartbeat_after_its_attach() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    let r = accepted(s.attach(t0 + secs(1)));
    assert_eq!(s.poll_frame(r, t0 + secs(1)), None);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(26)));
    s.handle_timeout(t0 + secs(26));
    assert_eq!(s.poll_frame(r, t0 + secs(26)).as_deref(), Some("h"));
}

#[test]
fn no_heartbeat_when_disabled() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    s.set_heartbeat_enabled(false);
    assert!(!s.is_heartbeat_enabled());
    let r = accepted(s.attach(t0));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some("o"));
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_timeout(t0 + secs(100)), None);
    assert_eq!(s.poll_frame(r, t0 + secs(100)), None);
}

#[test]
fn disabling_heartbeats_cancels_one_already_due() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    let r = accepted(s.attach(t0));
    s.poll_frame(r, t0);
    s.handle_timeout(t0 + secs(25));
    s.set_heartbeat_enabled(false);
    assert_eq!(s.poll_frame(r, t0 + secs(25)), None);
    s.set_heartbeat_enabled(true);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(25)));
}

#[test]
fn new_session_never_attached_expires_after_the_delay() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(5)));
    assert_eq!(
        s.handle_timeout(t0 + secs(5)),
        Some(Expiry::Expired { after: secs(5) })
    );
}

#[test]
fn no_receiver_for_the_disconnect_delay_expires_the_session() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    let t1 = t0 + secs(3);
    let r = accepted(s.attach(t1));
    s.push_message("lost".into());
    s.poll_frame(r, t1);
    s.detach(r, Detach::Done, t1);
    s.push_message("queued".into());
    assert!(!s.has_receiver());
    assert_eq!(s.poll_timeout(), Some(t1 + secs(5)));
    assert_eq!(s.handle_timeout(t1 + Duration::from_millis(4999)), None);
    assert!(!s.is_closed());

    let expiry = s.handle_timeout(t1 + Duration::from_millis(5200));
    assert_eq!(
        expiry,
        Some(Expiry::Expired {
            after: Duration::from_millis(5200)
        })
    );
    assert!(s.is_expired());
    assert_eq!(s.close_reason(), Some((3000, "Go away!")));
    assert_eq!(s.pending_len(), 0);
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(s.handle_timeout(t1 + secs(60)), None, "reported once");
    assert_eq!(s.attach(t1 + secs(6)), closed(3000, "Go away!"));
}

#[test]
fn reattaching_before_the_delay_cancels_expiry() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    assert_eq!(s.poll_timeout(), Some(t0 + secs(5)));
    let r = accepted(s.attach(t0 + secs(4)));
    assert_eq!(s.handle_timeout(t0 + secs(5)), None);
    assert_eq!(s.handle_timeout(t0 + secs(20)), None);
    assert!(!s.is_closed());
    s.detach(r, Detach::Done, t0 + secs(20));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(25)));
    assert_eq!(s.handle_timeout(t0 + secs(24)), None);
}

#[test]
fn interrupted_receiver_closes_with_1002_and_drops_the_queue() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    let r = accepted(s.attach(t0));
    s.push_message("x".into());
    s.detach(r, Detach::Interrupted, t0 + secs(1));
    assert!(s.is_closed());
    assert_eq!(s.pending_len(), 0);
    let refused = s.attach(t0 + secs(2));
    assert_eq!(refused, closed(1002, "Connection interrupted"));
    assert_eq!(
        refused.frame().as_deref(),
        Some(r#"c[1002,"Connection interrupted"]"#)
    );
    assert_eq!(
        s.attach(t0 + secs(3)),
        closed(1002, "Connection interrupted")
    );
    assert_eq!(s.handle_timeout(t0 + secs(6)), Some(Expiry::Finished));
}

#[test]
fn server_close_reaches_the_attached_receiver_then_every_later_attach() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    let r = accepted(s.attach(t0));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some("o"));
    s.close(3000, "Go away!");
    s.push_message("ignored".into());
    assert_eq!(s.pending_len(), 0);
    // A new request while the first still streams gets the close, not 2010.
    assert_eq!(s.attach(t0), closed(3000, "Go away!"));
    assert!(!s.is_finished(r));
    assert_eq!(
        s.poll_frame(r, t0).as_deref(),
        Some(r#"c[3000,"Go away!"]"#)
    );
    assert!(s.is_finished(r));
    assert_eq!(s.poll_frame(r, t0), None);
    assert_eq!(s.poll_timeout(), None, "no heartbeat after close");
    s.detach(r, Detach::Done, t0 + secs(1));
    assert_eq!(s.attach(t0 + secs(2)), closed(3000, "Go away!"));
    assert_eq!(s.attach(t0 + secs(3)), closed(3000, "Go away!"));
    assert_eq!(s.poll_timeout(), Some(t0 + secs(6)));
    assert_eq!(s.handle_timeout(t0 + secs(6)), Some(Expiry::Finished));
}

#[test]
fn second_close_keeps_the_first_reason() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    s.close(3000, "Go away!");
    s.close(4000, "other");
    let r = s.attach(t0);
    assert_eq!(r, closed(3000, "Go away!"));
}

#[test]
fn close_before_open_still_sends_open_first() {
    // Spec test_closeSession with xhr polling: "o\n", then c[3000,"Go away!"] forever.
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    s.close(3000, "Go away!");
    let r = accepted(s.attach(t0));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some("o"));
    s.detach(r, Detach::Done, t0);
    assert_eq!(s.attach(t0), closed(3000, "Go away!"));
}

#[test]
fn streaming_receiver_gets_open_then_close_on_one_response() {
    // Spec HandlingClose.test_close_frame: r1 reads o, then c[3000,"Go away!"].
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    s.close(3000, "Go away!");
    let r = accepted(s.attach(t0));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some("o"));
    assert_eq!(
        s.poll_frame(r, t0).as_deref(),
        Some(r#"c[3000,"Go away!"]"#)
    );
    assert!(s.is_finished(r));
}

#[test]
fn messages_queued_before_close_are_delivered_before_the_close_frame() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    s.push_message("ERROR".into());
    s.close(3000, "Go away!");
    let r = accepted(s.attach(t0));
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some(r#"a["ERROR"]"#));
    s.detach(r, Detach::Done, t0);
    // Nothing left to deliver: the refusal itself carries the close frame.
    let refused = s.attach(t0);
    assert_eq!(refused.frame().as_deref(), Some(r#"c[3000,"Go away!"]"#));
}

#[test]
fn streaming_receiver_gets_queued_messages_then_the_close_frame() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    let r = accepted(s.attach(t0));
    s.push_message("ERROR".into());
    s.close(3000, "Go away!");
    assert_eq!(s.poll_frame(r, t0).as_deref(), Some(r#"a["ERROR"]"#));
    assert!(!s.is_finished(r));
    assert_eq!(
        s.poll_frame(r, t0).as_deref(),
        Some(r#"c[3000,"Go away!"]"#)
    );
    assert!(s.is_finished(r));
}

#[test]
fn stale_receivers_are_ignored() {
    let t0 = Instant::now();
    let mut s = Session::new(SessionConfig::default(), t0);
    let old = accepted(s.attach(t0));
    s.detach(old, Detach::Done, t0);
    let new = accepted(s.attach(t0));
    assert_ne!(old, new);
    assert_eq!(s.poll_frame(old, t0), None);
    assert!(s.is_finished(old));
    s.detach(old, Detach::Interrupted, t0);
    assert!(s.has_receiver());
    assert!(!s.is_closed());
    assert_eq!(s.poll_frame(new, t0).as_deref(), Some("o"));
}

#[test]
fn detach_interrupted_after_close_keeps_the_close_reason() {
    let t0 = Instant::now();
    let mut s = opened(t0);
    let r = accepted(s.attach(t0));
    s.close(3000, "Go away!");
    s.detach(r, Detach::Interrupted, t0);
    assert_eq!(s.attach(t0), closed(3000, "Go away!"));
}

#[test]
fn custom_config_timers() {
    let t0 = Instant::now();
    let config = SessionConfig {
        heartbeat: Duration::from_millis(100),
        disconnect_delay: Duration::from_millis(50),
        response_limit: 4096,
    };
    let mut s = Session::new(config, t0);
    assert_eq!(s.config().response_limit, 4096);
    let r = accepted(s.attach(t0));
    s.poll_frame(r, t0);
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(100)));
    s.detach(r, Detach::Done, t0 + Duration::from_millis(10));
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_millis(60)));
}
