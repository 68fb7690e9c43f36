import Foundation
import ImageIO

/// Builds `aligned` datasets from paired folders: each image of A next to its namesake in B (A|B).
public enum PairCombiner {
    /// `a` and `b` side by side; both must have the same size. Channels are unified (gray → RGB, alpha dropped).
    public static func sideBySide(_ a: Image, _ b: Image) -> Image? {
        guard a.width == b.width, a.height == b.height else { return nil }
        let left = a.rgb().converted(toBitDepth: 8), right = b.rgb().converted(toBitDepth: 8)
        var result = Image(width: a.width * 2, height: a.height, channels: 3, repeating: 0)
        for y in 0..<a.height {
            for x in 0..<a.width {
                for channel in 0..<3 {
                    result[x, y, channel] = left[x, y, channel]
                    result[x + a.width, y, channel] = right[x, y, channel]
                }
            }
        }
        return result
    }

    /// Outcome of combining two folders.
    public struct Report {
        public var written: [String] = []
        public var skipped: [String] = []
        /// Relative path and reason per pair that failed.
        public var failed: [(String, String)] = []
    }

    /// Combines every file of `folderA` with the file of the same relative path (any image extension) in
    /// `folderB`, writing `output/<relative path>` (extension of `format`, or of the A file). Existing
    /// outputs are kept unless `overwrite`. Unpaired files and size mismatches are reported, not fatal.
    public static func combine(folderA: URL, folderB: URL, output: URL, format: ImageFormat? = nil,
                               overwrite: Bool = false) throws -> Report {
        let a = try ImageFolder.keyedByName(folderA), b = try ImageFolder.keyedByName(folderB)
        var report = Report()
        for key in Set(a.keys).union(b.keys).sorted() {
            guard let pathA = a[key], let pathB = b[key] else {
                report.failed.append((key, a[key] == nil ? "only in \(folderB.path)" : "only in \(folderA.path)"))
                continue
            }
            let extensionName = format.map { $0 == .png ? "png" : "jpg" } ?? pathA.pathExtension
            let target = output.appendingPathComponent(key + "." + extensionName)
            if !overwrite && FileManager.default.fileExists(atPath: target.path) {
                report.skipped.append(key)
                continue
            }
            do {
                let imageA = try Image.read(contentsOf: pathA), imageB = try Image.read(contentsOf: pathB)
                guard let combined = sideBySide(imageA, imageB) else {
                    report.failed.append((key, "sizes differ: \(imageA.width)x\(imageA.height) and \(imageB.width)x\(imageB.height)"))
                    continue
                }
                try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                try combined.write(to: target)
                report.written.append(key)
            } catch {
                report.failed.append((key, "\(error)"))
            }
        }
        return report
    }
}
