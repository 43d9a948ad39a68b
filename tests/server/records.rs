//! Records: tampered and oversized records end only the session they belong to.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dhchat_core::driver::DriverError;
use dhchat_core::error::{Error, RecordError};
use dhchat_core::message::msg_type;

use crate::common::{connect, tampering_proxy, try_connect, RawClient, TestServer, STEP};
use crate::support::{msg, still_serves, wait_for_log, FAST};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_from_the_client_ends_only_that_session() {
    let server = TestServer::start(FAST);
    let mut bob = connect(&server, "bob").await;
    let arm = Arc::new(AtomicBool::new(false));
    let proxy = tampering_proxy(server.addr, arm.clone(), true).await;
    let mut victim = try_connect(proxy, server.key, "victim", None)
        .await
        .expect("handshake through proxy");
    arm.store(true, Ordering::SeqCst);
    victim.say("#lobby", "tampered").await;
    wait_for_log(&server, "authentication failed").await;
    // The victim's session is over: the server closed it without a word.
    loop {
        match victim.try_recv(STEP).await {
            Some(Ok(got)) if got.msg_type() == msg_type::NOTICE => continue,
            Some(Ok(other)) => panic!("unexpected {other:?}"),
            Some(Err(e)) => {
                assert!(e.is_fatal());
                break;
            }
            None => panic!("session not ended"),
        }
    }
    // Nothing of the tampered record was delivered; others carry on.
    let mut carol = connect(&server, "carol").await;
    carol.say("#lobby", "after").await;
    assert_eq!(bob.recv_msg().await, msg("carol", "#lobby", "after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_from_the_server_is_an_authentication_error_at_the_client() {
    let server = TestServer::start(FAST);
    let mut bob = connect(&server, "bob").await;
    let arm = Arc::new(AtomicBool::new(false));
    let proxy = tampering_proxy(server.addr, arm.clone(), false).await;
    let mut victim = try_connect(proxy, server.key, "victim", None)
        .await
        .expect("handshake through proxy");
    arm.store(true, Ordering::SeqCst);
    bob.say("#lobby", "to be tampered").await;
    match victim.try_recv(STEP).await {
        Some(Ok(got)) => panic!("a tampered record was delivered: {got:?}"),
        Some(Err(e)) => assert!(
            matches!(e, DriverError::Protocol(Error::Record(RecordError::BadTag))),
            "expected an authentication error, got {e}"
        ),
        None => panic!("no record arrived"),
    }
    drop(victim);
    still_serves(&server).await;
    bob.say("#lobby", "bob still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_length_of_65535_ends_that_session_only() {
    let server = TestServer::start(FAST);
    let mut bob = connect(&server, "bob").await;
    let mut raw = RawClient::connect(&server, "raw").await;
    raw.send_bytes(&[0xff, 0xff, 1, 2, 3, 4]).await;
    loop {
        match raw.recv().await {
            Ok(got) if matches!(got.msg_type(), msg_type::NOTICE | msg_type::MESSAGE) => continue,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => {
                assert!(e.is_fatal());
                break;
            }
        }
    }
    wait_for_log(&server, "record length 65535").await;
    let mut carol = connect(&server, "carol").await;
    carol.say("#lobby", "fine").await;
    assert_eq!(bob.recv_msg().await, msg("carol", "#lobby", "fine"));
}
