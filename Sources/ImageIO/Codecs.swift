import CImageCodecs
import Foundation
import SafeFiles

/// JPEG chroma subsampling.
public enum ChromaSubsampling: String, Sendable, CaseIterable {
    /// Full-resolution chroma.
    case none444 = "444"
    /// Half-resolution chroma in both directions (the common camera default).
    case half420 = "420"
}

extension Image {
    /// The default pixel limit: 178,956,970 pixels, PIL's decompression-bomb error threshold
    /// (2 × `Image.MAX_IMAGE_PIXELS`).
    public static let defaultPixelLimit = 178_956_970

    /// Reads a PNG or JPEG file, recognised by its content rather than its extension. JPEGs are turned
    /// upright according to their EXIF orientation.
    ///
    /// - Throws: ``ImageError`` naming the file: empty, not an image, corrupt or truncated, larger than
    ///   `pixelLimit`, or unreadable.
    public static func read(contentsOf url: URL, pixelLimit: Int = defaultPixelLimit) throws -> Image {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ImageError.unreadable(path: url.path, reason: FileProblem.sentence(for: error))
        }
        return try decode(data, path: url.path, pixelLimit: pixelLimit)
    }

    /// Decodes PNG or JPEG bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>", pixelLimit: Int = defaultPixelLimit) throws -> Image {
        guard !data.isEmpty else { throw ImageError.empty(path: path) }
        guard let format = ImageFormat(sniffing: data) else { throw ImageError.notAnImage(path: path) }
        var decoded = stylize_decoded_image()
        let status: Int32 = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self).baseAddress!
            switch format {
            case .png: return stylize_decode_png(bytes, raw.count, Int64(pixelLimit), &decoded)
            case .jpeg: return stylize_decode_jpeg(bytes, raw.count, Int64(pixelLimit), &decoded)
            }
        }
        defer { stylize_codec_free(decoded.pixels) }
        guard status == Int32(STYLIZE_CODEC_OK.rawValue) else {
            let message = withUnsafeBytes(of: decoded.message) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            switch UInt32(status) {
            case STYLIZE_CODEC_TOO_LARGE.rawValue: throw ImageError.tooLarge(path: path, reason: message)
            case STYLIZE_CODEC_UNSUPPORTED.rawValue: throw ImageError.unsupported(path: path, reason: message)
            case STYLIZE_CODEC_NO_MEMORY.rawValue: throw ImageError.tooLarge(path: path, reason: "out of memory: \(message)")
            default: throw ImageError.corrupt(path: path, reason: message)
            }
        }
        let width = Int(decoded.width), height = Int(decoded.height), channels = Int(decoded.channels)
        let count = width * height * channels
        var samples = [UInt16](repeating: 0, count: count)
        if decoded.bit_depth == 16 {
            let source = decoded.pixels.assumingMemoryBound(to: UInt16.self)
            samples.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: source, count: count) }
        } else {
            let source = decoded.pixels.assumingMemoryBound(to: UInt8.self)
            for index in 0..<count { samples[index] = UInt16(source[index]) }
        }
        let image = Image(width: width, height: height, channels: channels, bitDepth: Int(decoded.bit_depth), samples: samples)
        return image.oriented(exifOrientation: Int(decoded.orientation))
    }

    /// Encodes as PNG (8 or 16 bits, as the image) or JPEG (8-bit gray or RGB; alpha is dropped,
    /// 16-bit samples are rounded to 8).
    public func encoded(as format: ImageFormat, quality: Int = 95, subsampling: ChromaSubsampling = .half420,
                        path: String = "<memory>") throws -> Data {
        var output: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 200)
        let status: Int32
        switch format {
        case .png:
            if bitDepth == 16 {
                status = samples.withUnsafeBufferPointer {
                    stylize_encode_png($0.baseAddress!, Int32(width), Int32(height), Int32(channels), 16, &output, &size, &message)
                }
            } else {
                let bytes = samples.map { UInt8($0) }
                status = bytes.withUnsafeBufferPointer {
                    stylize_encode_png($0.baseAddress!, Int32(width), Int32(height), Int32(channels), 8, &output, &size, &message)
                }
            }
        case .jpeg:
            let opaque = withoutAlpha().converted(toBitDepth: 8)
            let bytes = opaque.samples.map { UInt8($0) }
            status = bytes.withUnsafeBufferPointer {
                stylize_encode_jpeg($0.baseAddress!, Int32(width), Int32(height), Int32(opaque.channels), Int32(quality),
                                    subsampling == .half420 ? 1 : 0, &output, &size, &message)
            }
        }
        defer { stylize_codec_free(output) }
        guard status == Int32(STYLIZE_CODEC_OK.rawValue), let output else {
            throw ImageError.unwritable(path: path, reason: String(cString: message))
        }
        return Data(bytes: output, count: size)
    }

    /// Writes atomically: the bytes go to a temporary file in the same folder, renamed into place, so a
    /// crash never leaves a half-written image. The format defaults to the one the extension names.
    public func write(to url: URL, format: ImageFormat? = nil, quality: Int = 95,
                      subsampling: ChromaSubsampling = .half420) throws {
        guard let format = format ?? ImageFormat(pathExtension: url.pathExtension) else {
            throw ImageError.unwritable(path: url.path, reason: "unknown image extension '.\(url.pathExtension)' (use .png, .jpg or .jpeg)")
        }
        let data = try encoded(as: format, quality: quality, subsampling: subsampling, path: url.path)
        do {
            try AtomicFile.write(data, to: url)
        } catch {
            throw ImageError.unwritable(path: url.path, reason: FileProblem.sentence(for: error))
        }
    }
}
