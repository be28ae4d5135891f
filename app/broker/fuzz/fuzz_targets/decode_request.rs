//! Any bytes after a supported API key and version (the first input byte
//! picks one, so the fuzzer spends its time inside request bodies; 255 sends
//! the input as a raw frame instead) must decode to a request or an error:
//! never a panic, nor an allocation over libFuzzer's malloc limit (which is
//! how kafka-protocol 0.18.0 aborted the broker).
#![no_main]

use bytes::{BufMut, Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut frame = if pick == 255 {
        Bytes::copy_from_slice(rest)
    } else {
        let versions: Vec<(i16, i16)> = harmony_broker::SUPPORTED
            .iter()
            .flat_map(|(key, min, max)| (*min..=*max).map(move |v| (*key as i16, v)))
            .collect();
        let (key, version) = versions[usize::from(pick) % versions.len()];
        let mut frame = BytesMut::with_capacity(rest.len() + 4);
        frame.put_i16(key);
        frame.put_i16(version);
        frame.put_slice(rest);
        frame.freeze()
    };
    let _ = harmony_broker::decode_request(&mut frame);
});
