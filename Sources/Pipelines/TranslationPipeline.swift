import Foundation
import ImageIO
import Models
import NN
import Tensor

/// Why an image cannot go through a pipeline; each names the file.
public enum PipelineError: Error, Equatable, CustomStringConvertible {
    case tooManyPixels(path: String, width: Int, height: Int, limit: Int)

    public var description: String {
        switch self {
        case .tooManyPixels(let path, let width, let height, let limit):
            return "\(path): \(width)x\(height) is \(width * height) pixels, above --max-pixels \(limit); use --size to shrink it or raise --max-pixels"
        }
    }
}

/// A generator run over images at their own size: padded to the architecture's side multiple, translated (in tiles
/// with shared instance-norm statistics when large and the family tiles), cropped back. A Lab colorizer (1 → 2
/// channels) sees the lightness and its predicted chroma is put back on the photo's own lightness. No resizing unless
/// asked (`shortSide`).
public struct TranslationPipeline {
    public let generator: LoadedGenerator
    /// Resize so the short side is this many pixels first (bicubic).
    public let shortSide: Int?
    /// Images above this many pixels (after `shortSide`) are refused.
    public let maximumPixels: Int
    public let tiling: TiledInference

    public init(generator: LoadedGenerator, shortSide: Int? = nil, maximumPixels: Int = 16_777_216, tiling: TiledInference = TiledInference()) {
        self.generator = generator
        self.shortSide = shortSide
        self.maximumPixels = maximumPixels
        self.tiling = tiling
    }

    /// A 1 → 2 channel generator is a Lab colorizer.
    public var isColorizer: Bool { generator.architecture.isColorizer }

    /// The translated image (8-bit RGB, or gray for a 1-channel generator), the size of `image` (or of its `shortSide`
    /// resize).
    ///
    /// - Parameters:
    ///   - path: names the image in errors.
    ///   - progress: (done, total) over the tiles of a large image.
    /// - Throws: ``PipelineError/tooManyPixels(path:width:height:limit:)``.
    public func translate(_ image: Image, path: String, progress: ((Int, Int) -> Void)? = nil) throws -> Image {
        let channels = generator.architecture.inputChannels
        var source = (channels == 1 && !isColorizer ? image.grayscale() : image.rgb()).converted(toBitDepth: 8)
        if let shortSide, min(source.width, source.height) != shortSide {
            let scale = Double(shortSide) / Double(min(source.width, source.height))
            source = source.resized(width: max(1, Int((Double(source.width) * scale).rounded())),
                                    height: max(1, Int((Double(source.height) * scale).rounded())), filter: .bicubic)
        }
        guard source.pixelCount <= maximumPixels else {
            throw PipelineError.tooManyPixels(path: path, width: source.width, height: source.height, limit: maximumPixels)
        }
        let lightness = isColorizer ? LabEncoding.split(source).lightness : nil
        let padded = PaddedToMultiple(lightness ?? source.tensor(), multiple: generator.architecture.sideMultiple)
        let result: Tensor
        if generator.architecture.isTileable && tiling.needsTiling(height: padded.tensor.shape[2], width: padded.tensor.shape[3]) {
            result = tiling.run(generator.module, on: padded.tensor, progress: progress)
        } else {
            result = withoutGradient { generator.module(padded.tensor) }
        }
        let cropped = padded.cropped(result)
        if let lightness { return LabEncoding.merge(lightness: lightness, chroma: cropped) }
        return Image(tensor: cropped)
    }
}
