import Foundation
import ImageIO

/// Errors about dataset folders; each names the path.
public enum DatasetError: Error, Equatable, CustomStringConvertible {
    case missingFolder(path: String)
    case noImages(path: String)
    case unpairedFiles(folder: String, names: [String])
    case unreadableImage(ImageError)

    public var description: String {
        switch self {
        case .missingFolder(let path): return "\(path): no such folder"
        case .noImages(let path): return "\(path): contains no .png, .jpg or .jpeg images"
        case .unpairedFiles(let folder, let names):
            return "\(folder): \(names.count) file(s) without a partner of the same name: "
                + names.prefix(5).joined(separator: ", ") + (names.count > 5 ? ", …" : "")
        case .unreadableImage(let error): return error.description
        }
    }
}

/// Listing of image files as the reference `make_dataset` does, made deterministic.
public enum ImageFolder {
    /// Extensions recognised as images (any letter case).
    public static let extensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Extensions of image formats stylize cannot read, counted so a batch can say it skipped them.
    public static let unsupportedImageExtensions: Set<String> = [
        "webp", "tif", "tiff", "bmp", "gif", "heic", "heif", "avif", "jxl", "jp2", "psd", "ppm", "pgm", "pnm", "tga", "ico",
        "dng", "cr2", "cr3", "nef", "arw", "orf", "rw2", "raf",
    ]

    /// Image files under `folder`, sorted by path. Hidden files and folders (names starting with ".")
    /// are skipped; `recursive` descends into subfolders.
    ///
    /// - Throws: ``DatasetError/missingFolder(path:)`` or ``DatasetError/noImages(path:)``.
    public static func list(_ folder: URL, recursive: Bool = true) throws -> [URL] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError.missingFolder(path: folder.path)
        }
        let found = listing(folder, recursive: recursive).images
        guard !found.isEmpty else { throw DatasetError.noImages(path: folder.path) }
        return found
    }

    /// The readable images under `folder` (sorted by path, hidden names skipped, subfolders with `recursive`) and how
    /// many files of image formats stylize cannot read it met, by lower-case extension. An empty or missing folder
    /// gives no images.
    public static func listing(_ folder: URL, recursive: Bool) -> (images: [URL], unsupported: [String: Int]) {
        var found: [URL] = []
        var unsupported: [String: Int] = [:]
        var pending = [folder]
        while let current = pending.popLast() {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: current.path)) ?? []
            for name in names where !name.hasPrefix(".") {
                let url = current.appendingPathComponent(name)
                var childIsDirectory: ObjCBool = false
                FileManager.default.fileExists(atPath: url.path, isDirectory: &childIsDirectory)
                let pathExtension = url.pathExtension.lowercased()
                if childIsDirectory.boolValue {
                    if recursive { pending.append(url) }
                } else if extensions.contains(pathExtension) {
                    found.append(url)
                } else if unsupportedImageExtensions.contains(pathExtension) {
                    unsupported[pathExtension, default: 0] += 1
                }
            }
        }
        return (found.sorted { $0.path < $1.path }, unsupported)
    }

    /// The images of ``list(_:recursive:)`` keyed by path relative to `folder` without extension
    /// (`sub/photo` for `sub/photo.JPG`): how paired folders are matched.
    public static func keyedByName(_ folder: URL) throws -> [String: URL] {
        var result: [String: URL] = [:]
        for url in try list(folder) {
            result[(String(url.path.dropFirst(folder.path.count + 1)) as NSString).deletingPathExtension] = url
        }
        return result
    }
}
