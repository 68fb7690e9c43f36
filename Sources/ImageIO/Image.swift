import Foundation

/// A decoded raster image: interleaved samples, rows top to bottom.
///
/// `channels` is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA); `bitDepth` is 8 or 16 and every
/// sample lies in `0...(1 << bitDepth) - 1`. Samples are stored as `UInt16` for both depths.
public struct Image: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var bitDepth: Int
    /// `height × width × channels` samples, row-major, channels interleaved.
    public var samples: [UInt16]

    public init(width: Int, height: Int, channels: Int, bitDepth: Int = 8, samples: [UInt16]) {
        precondition(width > 0 && height > 0 && (1...4).contains(channels) && (bitDepth == 8 || bitDepth == 16),
                     "invalid image \(width)x\(height)x\(channels) at \(bitDepth) bits")
        precondition(samples.count == width * height * channels, "\(samples.count) samples for \(width)x\(height)x\(channels)")
        self.width = width
        self.height = height
        self.channels = channels
        self.bitDepth = bitDepth
        self.samples = samples
    }

    /// A constant image.
    public init(width: Int, height: Int, channels: Int, bitDepth: Int = 8, repeating value: UInt16) {
        self.init(width: width, height: height, channels: channels, bitDepth: bitDepth,
                  samples: [UInt16](repeating: value, count: width * height * channels))
    }

    /// Largest sample value: 255 or 65535.
    public var maximumValue: Int { (1 << bitDepth) - 1 }

    /// Number of pixels.
    public var pixelCount: Int { width * height }

    /// The sample at (x, y, channel).
    public subscript(x: Int, y: Int, channel: Int) -> UInt16 {
        get { samples[(y * width + x) * channels + channel] }
        set { samples[(y * width + x) * channels + channel] = newValue }
    }
}

/// Why an image could not be read or written; every case names the file.
public enum ImageError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case empty(path: String)
    case notAnImage(path: String)
    case corrupt(path: String, reason: String)
    case tooLarge(path: String, reason: String)
    case unsupported(path: String, reason: String)
    case unwritable(path: String, reason: String)

    public var path: String {
        switch self {
        case .unreadable(let path, _), .empty(let path), .notAnImage(let path), .corrupt(let path, _),
             .tooLarge(let path, _), .unsupported(let path, _), .unwritable(let path, _):
            return path
        }
    }

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .empty(let path): return "\(path): the file is empty"
        case .notAnImage(let path): return "\(path): not a PNG or JPEG image"
        case .corrupt(let path, let reason): return "\(path): corrupt image: \(reason)"
        case .tooLarge(let path, let reason): return "\(path): image too large: \(reason)"
        case .unsupported(let path, let reason): return "\(path): unsupported image: \(reason)"
        case .unwritable(let path, let reason): return "\(path): cannot write: \(reason)"
        }
    }
}

/// File formats the codecs handle.
public enum ImageFormat: String, Sendable, CaseIterable {
    case png
    case jpeg

    /// The format an extension names (`png`, `jpg`, `jpeg`, any case), or nil.
    public init?(pathExtension: String) {
        switch pathExtension.lowercased() {
        case "png": self = .png
        case "jpg", "jpeg": self = .jpeg
        default: return nil
        }
    }

    /// The format of encoded bytes, by their signature.
    public init?(sniffing data: Data) {
        if data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { self = .png }
        else if data.starts(with: [0xFF, 0xD8, 0xFF]) { self = .jpeg }
        else { return nil }
    }
}
