//! Flush-to-zero and denormals-are-zero for the duration of `process()`.

/// Flush-to-zero and denormals-are-zero for as long as this guard lives, restored to the
/// caller's setting when it drops. The plugin holds one for the duration of `process()`:
/// denormal inputs (a decaying sidechain, filter tails) would otherwise slow the DSP down
/// several times over, and some hosts leave these flags off. Must be dropped on the thread
/// that created it (it is neither `Send` nor `Sync`).
pub struct DenormalGuard {
    #[cfg_attr(not(any(target_arch = "x86_64", target_arch = "aarch64")), allow(dead_code))]
    saved: u64,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl DenormalGuard {
    /// MXCSR bits: FTZ (15) and DAZ (6).
    #[cfg(target_arch = "x86_64")]
    const BITS: u64 = (1 << 15) | (1 << 6);
    /// FPCR bit: FZ (24), which on AArch64 flushes both inputs and outputs.
    #[cfg(target_arch = "aarch64")]
    const BITS: u64 = 1 << 24;

    /// Sets the flags; the previous state is restored on drop.
    #[inline]
    pub fn new() -> Self {
        let saved = read_fp_control();
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if saved & Self::BITS != Self::BITS {
            write_fp_control(saved | Self::BITS);
        }
        Self { saved, _not_send: std::marker::PhantomData }
    }
}

impl Default for DenormalGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for DenormalGuard {
    #[inline]
    fn drop(&mut self) {
        #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
        if read_fp_control() != self.saved {
            write_fp_control(self.saved);
        }
    }
}

/// The floating-point control register (MXCSR on x86-64, FPCR on AArch64); 0 elsewhere.
#[inline]
fn read_fp_control() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let mut csr: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR to the given, valid address.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags))
        };
        csr as u64
    }
    #[cfg(target_arch = "aarch64")]
    {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effects.
        unsafe {
            std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack, preserves_flags))
        };
        fpcr
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        0
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline]
fn write_fp_control(value: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        let csr = value as u32;
        // SAFETY: ldmxcsr loads MXCSR from a valid address; only the rounding/flush flags
        // the caller read from the register (plus FTZ/DAZ) are written back.
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags, readonly))
        };
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: writing FZ (and the bits read before) to FPCR only changes float behaviour.
    unsafe {
        std::arch::asm!("msr fpcr, {}", in(reg) value, options(nomem, nostack, preserves_flags))
    };
}

#[cfg(test)]
mod denormal_tests {
    use super::DenormalGuard;

    #[test]
    fn guard_flushes_denormals_and_restores_the_mode() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let half = std::hint::black_box(0.5f32);
        assert!((tiny * half) > 0.0, "denormals are kept by default");
        {
            let _guard = DenormalGuard::new();
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            assert_eq!(std::hint::black_box(tiny) * std::hint::black_box(half), 0.0, "flushed");
        }
        assert!((tiny * half) > 0.0, "restored after the guard");
    }
}
