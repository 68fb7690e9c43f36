import Foundation

/// A file-system failure told as a sentence that names the path: what a user reads instead of an
/// `NSCocoaErrorDomain` dump.
public struct FileProblem: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file or folder the operation was about.
    public let path: String
    /// What went wrong, in plain words ("no space left on the disk").
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// From a POSIX error number.
    public init(path: String, errno code: Int32) {
        self.init(path: path, reason: FileProblem.sentence(errno: code))
    }

    public var description: String { "\(path): \(reason)" }

    /// A plain-words reason for a POSIX error number.
    public static func sentence(errno code: Int32) -> String {
        switch code {
        case EACCES, EPERM: return "permission denied (you cannot write here)"
        case EROFS: return "the file system is read-only"
        case ENOSPC: return "no space left on the disk"
        case EDQUOT: return "disk quota exceeded"
        case ENOTDIR: return "a part of this path is a file, not a folder"
        case EISDIR: return "this is a folder, not a file"
        case ENOENT: return "no such file or folder"
        case EEXIST: return "something is already there"
        case ENAMETOOLONG: return "the name is too long"
        case EMFILE, ENFILE: return "too many open files"
        case EIO: return "input/output error (a failing disk or a lost network mount)"
        case EFBIG: return "the file is too large for this file system"
        default: return String(cString: strerror(code))
        }
    }

    /// A plain-words reason for any error a Foundation file operation throws (its POSIX cause where it has one).
    public static func sentence(for error: Error) -> String {
        if let problem = error as? FileProblem { return problem.reason }
        let nsError = error as NSError
        if nsError.domain == NSPOSIXErrorDomain { return sentence(errno: Int32(nsError.code)) }
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return sentence(errno: Int32(underlying.code))
        }
        if nsError.domain == NSCocoaErrorDomain {
            switch nsError.code {
            case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return sentence(errno: ENOENT)
            case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return sentence(errno: EACCES)
            case NSFileWriteOutOfSpaceError: return sentence(errno: ENOSPC)
            case NSFileWriteVolumeReadOnlyError: return sentence(errno: EROFS)
            case NSFileWriteFileExistsError: return "a file is in the way"
            default: break
            }
        }
        return nsError.localizedDescription
    }

    /// `error` as a ``FileProblem`` about `path` (kept as it is when it already is one).
    public static func from(_ error: Error, path: String) -> FileProblem {
        if let problem = error as? FileProblem { return problem }
        return FileProblem(path: path, reason: sentence(for: error))
    }
}
