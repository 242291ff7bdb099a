//! The adapter's heap: dlmalloc, whose first region is an arena in the
//! module's own zeroed data, so that a call which needs less than
//! [`ARENA_BYTES`] of heap never grows linear memory.
//!
//! Why: the host gives every call a fresh instance, and a fresh instance
//! starts at the module's initial memory size. Rust's default allocator on
//! `wasm32-unknown-unknown` takes all its memory with `memory.grow`, so every
//! call grew memory by a page at least, and the host then had to make that
//! page inaccessible again before the slot's next instance (an `mprotect`,
//! which on a multi-threaded host also interrupts the other cores to flush
//! their TLBs). Serving the first [`ARENA_BYTES`] from the module's `.bss`
//! (part of its initial memory, zero at instantiation, reset by the host
//! after each call) takes both system calls off the call. Past the arena the
//! heap grows as before.
//!
//! It is on with the SDK's default `heap` feature. An adapter that wants
//! its own `#[global_allocator]` turns the feature off.
//!
//! wasm32 components are single-threaded: nothing here is shared between
//! threads, which is what makes the `Sync` impl sound.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::{Cell, UnsafeCell};
use core::ptr;

use dlmalloc::{Allocator, Dlmalloc};

/// Bytes of heap served before memory grows.
const ARENA_BYTES: usize = 1 << 20;

/// A wasm page.
const PAGE: usize = 64 << 10;

#[repr(C, align(16))]
struct Arena(UnsafeCell<[u8; ARENA_BYTES]>);

// SAFETY: single-threaded (see the module's doc); the arena is handed to
// dlmalloc once and only accessed through it.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_BYTES]));

/// dlmalloc's system allocator: the arena first, then `memory.grow`.
struct System {
    arena_taken: Cell<bool>,
}

/// dlmalloc must not free, trim or merge the arena: it is not memory it
/// grew ("extern" in dlmalloc's terms).
const EXTERN: u32 = 1;

// SAFETY: the regions answered are ours to give: the arena once, and pages
// `memory.grow` just added.
unsafe impl Allocator for System {
    fn alloc(&self, size: usize) -> (*mut u8, usize, u32) {
        if !self.arena_taken.get() && size <= ARENA_BYTES {
            self.arena_taken.set(true);
            return (ARENA.0.get().cast(), ARENA_BYTES, EXTERN);
        }
        let pages = size.div_ceil(PAGE);
        let previous = core::arch::wasm32::memory_grow(0, pages);
        if previous == usize::MAX {
            return (ptr::null_mut(), 0, 0);
        }
        ((previous * PAGE) as *mut u8, pages * PAGE, 0)
    }

    fn remap(&self, _ptr: *mut u8, _old: usize, _new: usize, _can_move: bool) -> *mut u8 {
        ptr::null_mut()
    }

    fn free_part(&self, _ptr: *mut u8, _old: usize, _new: usize) -> bool {
        false
    }

    fn free(&self, _ptr: *mut u8, _size: usize) -> bool {
        false
    }

    fn can_release_part(&self, _flags: u32) -> bool {
        false
    }

    fn allocates_zeros(&self) -> bool {
        // The arena is zero when it is handed out (once per instance), and
        // so are grown pages.
        true
    }

    fn page_size(&self) -> usize {
        PAGE
    }
}

/// The global allocator.
struct Heap(UnsafeCell<Dlmalloc<System>>);

// SAFETY: single-threaded (see the module's doc).
unsafe impl Sync for Heap {}

// SAFETY: dlmalloc answers blocks of the requested size and alignment.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).malloc(layout.size(), layout.align()) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { (*self.0.get()).calloc(layout.size(), layout.align()) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { (*self.0.get()).free(ptr, layout.size(), layout.align()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        unsafe { (*self.0.get()).realloc(ptr, layout.size(), layout.align(), new_size) }
    }
}

#[global_allocator]
static HEAP: Heap = Heap(UnsafeCell::new(Dlmalloc::new_with_allocator(System {
    arena_taken: Cell::new(false),
})));
