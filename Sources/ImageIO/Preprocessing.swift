import Foundation
import Tensor

/// The reference implementation's `--preprocess` modes.
public enum PreprocessMode: String, Sendable, CaseIterable {
    /// Resize to `loadSize × loadSize` (bicubic), then crop `cropSize` at a random position.
    case resizeAndCrop = "resize_and_crop"
    /// Crop `cropSize` at a random position of the unresized image.
    case crop
    /// Resize to width `loadSize` keeping the aspect ratio (height at least `cropSize`).
    case scaleWidth = "scale_width"
    /// `scale_width`, then a random `cropSize` crop.
    case scaleWidthAndCrop = "scale_width_and_crop"
    /// No resize or crop; sides rounded to multiples of 4 (bicubic), as the generators need.
    case none
}

/// Sizes a ``Preprocessing`` cannot work with; each names the options.
public enum PreprocessingError: Error, Equatable, CustomStringConvertible {
    case nonPositiveSize(load: Int, crop: Int)
    case cropLargerThanLoad(crop: Int, load: Int, mode: String)

    public var description: String {
        switch self {
        case .nonPositiveSize(let load, let crop): return "--load-size \(load) and --crop-size \(crop) must be positive"
        case .cropLargerThanLoad(let crop, let load, let mode):
            return "--crop-size \(crop) is larger than --load-size \(load) (--preprocess \(mode)); use a crop of at most \(load), "
                + "or a larger --load-size"
        }
    }
}

/// Resize, crop and flip as `get_params` + `get_transform` in junyanz/pytorch-CycleGAN-and-pix2pix,
/// with every random choice drawn from a seedable generator so paired images can share them.
public struct Preprocessing: Sendable, Equatable {
    public var mode: PreprocessMode
    public var loadSize: Int
    public var cropSize: Int
    /// Random horizontal flips (the reference's default; `--no_flip` turns them off).
    public var flip: Bool

    public init(mode: PreprocessMode = .resizeAndCrop, loadSize: Int = 286, cropSize: Int = 256, flip: Bool = true) {
        self.mode = mode
        self.loadSize = loadSize
        self.cropSize = cropSize
        self.flip = flip
    }

    /// Checks the sizes: both at least 1, and for the modes that crop after a resize to `loadSize` (and `crop`, whose
    /// crop the reference also bounds by the load size), a crop no larger than the load size.
    ///
    /// - Throws: ``PreprocessingError``.
    public func validate() throws {
        guard loadSize >= 1, cropSize >= 1 else { throw PreprocessingError.nonPositiveSize(load: loadSize, crop: cropSize) }
        if [.resizeAndCrop, .crop, .scaleWidthAndCrop].contains(mode), cropSize > loadSize {
            throw PreprocessingError.cropLargerThanLoad(crop: cropSize, load: loadSize, mode: mode.rawValue)
        }
    }

    /// The random choices for one image (or one aligned pair).
    public struct Parameters: Sendable, Equatable {
        public var cropX: Int
        public var cropY: Int
        public var flip: Bool

        public init(cropX: Int, cropY: Int, flip: Bool) {
            self.cropX = cropX
            self.cropY = cropY
            self.flip = flip
        }
    }

    /// Draws crop position and flip for an image of `width × height`, as the reference's `get_params`.
    public func parameters(width: Int, height: Int, generator: RandomGenerator) -> Parameters {
        var newWidth = width, newHeight = height
        switch mode {
        case .resizeAndCrop: newWidth = loadSize; newHeight = loadSize
        case .scaleWidthAndCrop: newWidth = loadSize; newHeight = loadSize * height / width
        default: break
        }
        let x = generator.nextInt(below: Swift.max(0, newWidth - cropSize) + 1)
        let y = generator.nextInt(below: Swift.max(0, newHeight - cropSize) + 1)
        return Parameters(cropX: x, cropY: y, flip: generator.nextDouble() > 0.5)
    }

    /// Applies the transform with the given choices.
    public func apply(_ image: Image, _ parameters: Parameters) -> Image {
        var result = image
        switch mode {
        case .resizeAndCrop:
            result = result.resized(width: loadSize, height: loadSize, filter: .bicubic)
        case .scaleWidth, .scaleWidthAndCrop:
            if !(result.width == loadSize && result.height >= cropSize) {
                let height = Swift.max(Int(Double(loadSize) * Double(result.height) / Double(result.width)), cropSize)
                result = result.resized(width: loadSize, height: height, filter: .bicubic)
            }
        case .crop, .none:
            break
        }
        if mode == .resizeAndCrop || mode == .crop || mode == .scaleWidthAndCrop {
            if result.width > cropSize || result.height > cropSize {
                result = result.croppedPaddingWithZeros(x: parameters.cropX, y: parameters.cropY, width: cropSize, height: cropSize)
            }
        }
        if mode == .none { result = result.roundedToMultiple(of: 4) }
        if flip && parameters.flip { result = result.flippedHorizontally() }
        return result
    }

    /// Draws parameters and applies them.
    public func apply(_ image: Image, generator: RandomGenerator) -> Image {
        apply(image, parameters(width: image.width, height: image.height, generator: generator))
    }
}

extension Image {
    /// A crop that may reach past the border; the outside is zero (PIL's `Image.crop`).
    public func croppedPaddingWithZeros(x: Int, y: Int, width: Int, height: Int) -> Image {
        if x >= 0 && y >= 0 && x + width <= self.width && y + height <= self.height {
            return cropped(x: x, y: y, width: width, height: height)
        }
        var result = Image(width: width, height: height, channels: channels, bitDepth: bitDepth, repeating: 0)
        for row in 0..<height where (0..<self.height).contains(row + y) {
            for column in 0..<width where (0..<self.width).contains(column + x) {
                for channel in 0..<channels { result[column, row, channel] = self[column + x, row + y, channel] }
            }
        }
        return result
    }

    /// Sides rounded to the nearest multiple of `base` (ties to even, as Python's `round`), bicubic —
    /// the reference's `__make_power_2`. Never below `base`.
    public func roundedToMultiple(of base: Int) -> Image {
        func rounded(_ side: Int) -> Int {
            Swift.max(base, Int((Double(side) / Double(base)).rounded(.toNearestOrEven)) * base)
        }
        let newWidth = rounded(width), newHeight = rounded(height)
        if newWidth == width && newHeight == height { return self }
        return resized(width: newWidth, height: newHeight, filter: .bicubic)
    }
}
