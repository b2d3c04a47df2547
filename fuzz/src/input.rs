//! A tiny byte reader for the structured targets: every read succeeds
//! (zeros once the input is used up), so any byte string is a valid script.
//! Numbers are big-endian, so seeds are easy to write by hand.

pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        ((self.u32() as u64) << 32) | self.u32() as u64
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }

    /// A byte string whose length is the next byte.
    pub fn short_bytes(&mut self) -> &'a [u8] {
        let n = self.u8() as usize;
        self.bytes(n)
    }

    pub fn array20(&mut self) -> [u8; 20] {
        let mut a = [0u8; 20];
        for b in a.iter_mut() {
            *b = self.u8();
        }
        a
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }

    /// A u32 that is usually small (one byte below 0xf0) and sometimes a
    /// full 32-bit value, so indexes hit both real pieces and the edges.
    pub fn small_u32(&mut self, modulo: u32) -> u32 {
        let b = self.u8();
        if b < 0xf0 {
            b as u32 % modulo.max(1)
        } else {
            self.u32()
        }
    }
}
