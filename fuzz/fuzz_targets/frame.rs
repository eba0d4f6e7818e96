//! Ethernet frames into the whole decoder; what decodes must re-emit and decode the same.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vrrpd::{auth::Password, wire::frame};

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = frame::decode(data) {
        let key = Password::new(b"k@l");
        let bytes = frame::emit(&decoded.ethernet, &decoded.advert.advert, Some(&key))
            .expect("a decoded advert re-emits");
        let again = frame::decode(&bytes).expect("an emitted advert decodes");
        assert_eq!(again.advert.advert, decoded.advert.advert);
    }
});
