import Foundation

/// A value each thread has its own copy of, starting at `initial` — how per-thread engine state (gradient mode,
/// convolution switches, the default random generator, shared instance-norm statistics) avoids globals that threads
/// share. Backed by a POSIX thread-specific key; reading costs a few nanoseconds.
public final class ThreadLocal<Value>: @unchecked Sendable {
    final class Box {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    private var key = pthread_key_t()
    private let initial: @Sendable () -> Value

    /// - Parameter initial: makes a thread's value the first time it reads it.
    public init(_ initial: @escaping @Sendable () -> Value) {
        self.initial = initial
        // The destructor releases the thread's box when the thread ends.
        pthread_key_create(&key) { pointer in
            Unmanaged<AnyObject>.fromOpaque(pointer!).release()
        }
    }

    private var box: Box {
        if let pointer = pthread_getspecific(key) { return Unmanaged<Box>.fromOpaque(pointer).takeUnretainedValue() }
        let box = Box(initial())
        pthread_setspecific(key, Unmanaged.passRetained(box).toOpaque())
        return box
    }

    /// This thread's value.
    public var value: Value {
        get { box.value }
        set { box.value = newValue }
    }

    /// Runs `body` with this thread's value set to `value`, then restores the previous one.
    @discardableResult
    public func with<Result>(_ value: Value, _ body: () throws -> Result) rethrows -> Result {
        let box = self.box
        let previous = box.value
        box.value = value
        defer { box.value = previous }
        return try body()
    }
}

/// A value behind a lock, for process-wide settings that any thread may read or change.
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value

    public init(_ value: Value) { stored = value }

    public var value: Value {
        get { lock.lock(); defer { lock.unlock() }; return stored }
        set { lock.lock(); stored = newValue; lock.unlock() }
    }

    /// Runs `body` on the value while holding the lock.
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&stored)
    }
}
