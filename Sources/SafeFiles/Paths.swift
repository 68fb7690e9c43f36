import Foundation

/// The identity of a file on disk (device and inode, symbolic links followed): two paths name the same file
/// exactly when their identities are equal, whatever links, `..` or hard links they go through.
public struct FileIdentity: Hashable, Sendable {
    public let device: UInt64
    public let inode: UInt64

    /// The identity of what `path` names, or nil when nothing is there.
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

extension URL {
    /// The path with every symbolic link and `..` resolved — also for a path that does not exist yet (its longest
    /// existing prefix is resolved and the rest appended), so an output folder about to be made compares correctly
    /// with the inputs.
    public var fullyResolved: URL {
        var existing = standardizedFileURL
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: existing.path), existing.path != "/" {
            rest.insert(existing.lastPathComponent, at: 0)
            existing = existing.deletingLastPathComponent()
        }
        guard let real = realpath(existing.path, nil) else { return standardizedFileURL }
        defer { free(real) }
        var result = URL(fileURLWithPath: String(cString: real))
        for component in rest { result.appendPathComponent(component) }
        return result
    }

    /// Whether this (resolved) path is `folder` or lies below it.
    public func isInside(_ folder: URL) -> Bool {
        let path = self.path, base = folder.path
        return path == base || path.hasPrefix(base.hasSuffix("/") ? base : base + "/")
    }
}

/// Folders the tool writes into.
public enum Folder {
    /// Creates `url` and any missing parents.
    ///
    /// - Throws: ``FileProblem`` naming what is in the way ("…/photo.png is a file, not a folder"), or why it could
    ///   not be made.
    public static func create(_ url: URL) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw FileProblem(path: url.path, reason: "this is a file, not a folder") }
            return
        }
        // Find the deepest existing ancestor to say precisely what is in the way.
        var ancestor = url.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory), ancestor.path != "/" {
            ancestor = ancestor.deletingLastPathComponent()
        }
        if FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw FileProblem(path: url.path, reason: "cannot make this folder: \(ancestor.path) is a file, not a folder")
        }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw FileProblem.from(error, path: url.path)
        }
    }

    /// Makes sure files can be written in `url` (creating it if needed) by writing and removing a probe file, so a
    /// read-only or full destination is reported before any work is done.
    public static func checkWritable(_ url: URL) throws {
        try create(url)
        let probe = AtomicFile.temporaryURL(for: url.appendingPathComponent("probe"))
        let descriptor = open(probe.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileProblem(path: url.path, reason: "cannot write here: " + FileProblem.sentence(errno: errno)) }
        var byte: UInt8 = 0
        let written = Foundation.write(descriptor, &byte, 1)
        let writeError = errno
        close(descriptor)
        unlink(probe.path)
        if written != 1 { throw FileProblem(path: url.path, reason: "cannot write here: " + FileProblem.sentence(errno: writeError)) }
    }
}
