//! Reading the little-endian index files back, every length checked: a
//! damaged or truncated file is a `Corrupt` error, never a panic.

use crate::IndexError;

pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { bytes, at: 0, what }
    }

    pub fn corrupt(&self, why: &str) -> IndexError {
        IndexError::Corrupt(format!("{}: {why}", self.what))
    }

    /// Bytes not read yet.
    pub fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| self.corrupt("truncated"))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(
        &mut self,
        n: usize,
    ) -> Result<impl Iterator<Item = [u8; N]> + 'a, IndexError> {
        let len = n
            .checked_mul(N)
            .ok_or_else(|| self.corrupt("sizes overflow"))?;
        let b = self.take(len)?;
        Ok(b.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            a
        }))
    }

    pub fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(self.u64s(1)?[0])
    }

    pub fn u64s(&mut self, n: usize) -> Result<Vec<u64>, IndexError> {
        Ok(self.array::<8>(n)?.map(u64::from_le_bytes).collect())
    }

    pub fn u32s(&mut self, n: usize) -> Result<Vec<u32>, IndexError> {
        Ok(self.array::<4>(n)?.map(u32::from_le_bytes).collect())
    }

    pub fn f32s(&mut self, n: usize) -> Result<Vec<f32>, IndexError> {
        Ok(self.array::<4>(n)?.map(f32::from_le_bytes).collect())
    }
}
