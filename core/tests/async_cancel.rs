//! The async receiving half is cancel-safe mid-record: a future dropped after
//! reading half a record loses nothing.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use dhchat_core::connection::{ClientConnection, ClientEvent, ServerConnection, ServerEvent};
use dhchat_core::dh::{DH_MSG_LEN, LEN_PK};
use dhchat_core::driver::asynch::Receiver;
use dhchat_core::driver::Buffers;
use dhchat_core::group::Group;
use dhchat_core::handshake::{AdmitAll, ClientConfig};
use dhchat_core::identity::IdentityKey;
use dhchat_core::message::Message;
use dhchat_core::record::MAX_RECORD;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// A read side that returns `Pending` while its queue is empty.
#[derive(Clone, Default)]
struct Wire(Rc<RefCell<VecDeque<u8>>>);

impl embedded_io_async::ErrorType for Wire {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for Wire {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        std::future::poll_fn(|_| {
            let mut q = self.0.borrow_mut();
            if q.is_empty() {
                return Poll::Pending;
            }
            let n = buf.len().min(q.len());
            for (b, x) in buf.iter_mut().zip(q.drain(..n)) {
                *b = x;
            }
            Poll::Ready(Ok(n))
        })
        .await
    }
}

/// Runs a client and a server handshake against each other in memory and
/// returns the server's established connection and the client's.
fn pair() -> (
    ServerConnection,
    ClientConnection<'static, dhchat_core::identity::PublicKey>,
    ChaCha20Rng,
) {
    let identity = IdentityKey::from_seed(&[3; 32]).expect("seed");
    let pin = Box::leak(Box::new(identity.public_key()));
    let mut crng = ChaCha20Rng::from_seed([4; 32]);
    let mut srng = ChaCha20Rng::from_seed([5; 32]);
    let (mut crx, mut ctx) = (vec![0u8; MAX_RECORD], vec![0u8; MAX_RECORD]);
    let (mut srx, mut stx) = (vec![0u8; MAX_RECORD], vec![0u8; MAX_RECORD]);
    let mut client = ClientConnection::new(ClientConfig::new("carol"), pin);
    let (mut server, n) =
        ServerConnection::start(Group::Ffdhe2048, &mut srng, &mut stx).expect("start");
    let mut to_client: VecDeque<u8> = stx[..n].iter().copied().collect();
    let mut to_server: VecDeque<u8> = VecDeque::new();
    while !client.is_established() {
        let space = client.space(&mut crx);
        let n = space.len().min(to_client.len());
        for (b, x) in space.iter_mut().zip(to_client.drain(..n)) {
            *b = x;
        }
        match client
            .received(n, &mut crx, &mut crng, &mut ctx)
            .expect("client")
        {
            ClientEvent::Send(n) => to_server.extend(&ctx[..n]),
            ClientEvent::Compute(step) => {
                let dh = crx[..DH_MSG_LEN].to_vec();
                let (done, n) = step.run(&dh, &mut crng, &mut ctx).expect("key");
                to_server.extend(&ctx[..n]);
                client.resume(done);
            }
            _ => {}
        }
        let space = server.space(&mut srx);
        let n = space.len().min(to_server.len());
        for (b, x) in space.iter_mut().zip(to_server.drain(..n)) {
            *b = x;
        }
        match server
            .received(n, &mut srx, &mut AdmitAll, &mut srng, &mut stx)
            .expect("server")
        {
            ServerEvent::Compute(step) => {
                let y = srx[..LEN_PK].to_vec();
                let (done, n) = step.run(&y, &identity, &mut srng, &mut stx).expect("key");
                to_client.extend(&stx[..n]);
                server.resume(done);
            }
            ServerEvent::Hello(_) => {
                let n = server
                    .welcome("carol", "s", "", &mut srng, &mut stx)
                    .expect("welcome");
                to_client.extend(&stx[..n]);
            }
            _ => {}
        }
    }
    (server, client, crng)
}

#[test]
fn the_async_receive_half_survives_being_cancelled_mid_record() {
    let (server, mut client, mut rng) = pair();
    let Some((_send, reader, _info)) = server.split() else {
        panic!("established")
    };
    let wire = Wire::default();
    let mut receiver = Receiver::new(wire.clone(), reader, Box::new(Buffers::new()));

    let mut tx = vec![0u8; MAX_RECORD];
    let say = Message::Say {
        room: "#lobby",
        text: "a record cut in two",
    };
    let n = client
        .sender()
        .expect("open")
        .seal(&say, &mut rng, &mut tx)
        .expect("seal");
    let half = n / 2;
    wire.0.borrow_mut().extend(&tx[..half]);

    let mut cx = Context::from_waker(Waker::noop());
    {
        let fut = pin!(receiver.recv());
        assert!(
            fut.poll(&mut cx).is_pending(),
            "half a record is not a record"
        );
        // The future is dropped here, mid-record.
    }
    assert!(
        receiver.is_partial(),
        "the half record stays in the receiver"
    );
    assert!(wire.0.borrow().is_empty(), "the half record was consumed");

    wire.0.borrow_mut().extend(&tx[half..n]);
    let fut = pin!(receiver.recv());
    let Poll::Ready(got) = fut.poll(&mut cx) else {
        panic!("the rest of the record completes it")
    };
    let got = got.expect("record");
    assert_eq!(got.message, Ok(say));
    assert_eq!(got.reply, None);
}
