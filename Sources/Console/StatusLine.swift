import Foundation

/// Facts about the terminal standard error is attached to.
public enum Terminal {
    /// Whether `descriptor` is a terminal (a progress line can be redrawn in place).
    public static func isTerminal(_ descriptor: Int32 = STDERR_FILENO) -> Bool { isatty(descriptor) != 0 }

    /// The terminal's width in columns: from the terminal itself, else `$COLUMNS`, else 80.
    public static func columns(_ descriptor: Int32 = STDERR_FILENO) -> Int {
        var size = winsize()
        if ioctl(descriptor, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        if let text = ProcessInfo.processInfo.environment["COLUMNS"], let value = Int(text), value > 0 { return value }
        return 80
    }
}

/// `text` cut to at most `width` characters, ending in "…" when cut.
public func fitted(_ text: String, width: Int) -> String {
    guard width > 0 else { return "" }
    guard text.count > width else { return text }
    return String(text.prefix(max(width - 1, 0))) + "…"
}

/// One status line on standard error, redrawn in place on a terminal and never longer than the terminal is wide
/// (a longer line would wrap, and each redraw would scroll instead of replacing it).
public final class StatusLine: @unchecked Sendable {
    /// Whether the line is drawn (standard error is a terminal and the caller wants it).
    public let isLive: Bool
    private let lock = NSLock()
    private var shown = false
    private var lastDraw = Date.distantPast

    public init(enabled: Bool = true) {
        isLive = enabled && Terminal.isTerminal()
    }

    /// Redraws the line with `text` (cut to the terminal width). With `throttle`, draws at most five times a second.
    public func show(_ text: String, throttle: Bool = false) {
        guard isLive else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        if throttle, now.timeIntervalSince(lastDraw) < 0.2 { return }
        lastDraw = now
        shown = true
        FileHandle.standardError.write(Data(("\r" + fitted(text, width: Terminal.columns() - 1) + "\u{1B}[K").utf8))
    }

    /// Ends the line (a newline after it) so that what follows starts on its own line.
    public func finish() {
        lock.lock()
        defer { lock.unlock() }
        guard isLive, shown else { return }
        shown = false
        FileHandle.standardError.write(Data("\n".utf8))
    }

    /// Clears the line so a message can be printed in its place; the next ``show(_:throttle:)`` draws it again.
    public func clear() {
        lock.lock()
        defer { lock.unlock() }
        guard isLive, shown else { return }
        shown = false
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// `m:ss` or `h:mm:ss`.
public enum ProgressClock {
    public static func format(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60)
            : String(format: "%d:%02d", whole / 60, whole % 60)
    }
}

/// A text bar `[=====     ]` of `width` cells for a fraction in [0, 1].
public func progressBar(_ fraction: Double, width: Int = 20) -> String {
    let filled = min(width, max(0, Int((fraction * Double(width)).rounded(.down))))
    return "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "]"
}
