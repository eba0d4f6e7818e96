//! Raw IP packets (what a raw socket returns) into the advert decoder and authenticator.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vrrpd::{auth::Password, wire::advert::Advert};

fuzz_target!(|data: &[u8]| {
    if let Ok(received) = Advert::parse(data) {
        let _ = received.authenticate(&Password::new(b"k@l"));
    }
});
