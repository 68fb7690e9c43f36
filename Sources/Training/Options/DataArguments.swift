import ArgumentParser
import Datasets
import Foundation
import ImageIO

/// Where a run's images are and how each is prepared (`--dataroot`, `--preprocess`, sizes, flips). Unset values take
/// the recipe's ``RecipeDefaults``.
public struct ImageDataArguments: ParsableArguments {
    @Option(help: "Dataset folder (layout per recipe, see above).") public var dataroot: String?
    @Option(help: "How images are prepared (default per recipe: resize_and_crop for the GANs, scale_width_and_crop for latent diffusion).") public var preprocess: PreprocessMode?
    @Option(help: "Images are scaled to this size first (default 286).") public var loadSize: Int?
    @Option(help: "Then cropped to this size (default per recipe: 256 for the GANs, 128 for latent diffusion).") public var cropSize: Int?
    @Flag(help: "No random horizontal flips.") public var noFlip = false

    public init() {}

    public func validate() throws {
        if let loadSize, loadSize < 8 { throw ValidationError("--load-size must be at least 8") }
        if let cropSize, cropSize < 8 { throw ValidationError("--crop-size must be at least 8") }
    }

    /// The dataset folder.
    public func root() throws -> URL {
        guard let dataroot else { throw ValidationError("give --dataroot") }
        return URL(fileURLWithPath: dataroot)
    }

    /// The preprocessing with the recipe's defaults, checked (a crop larger than the load size is refused).
    public func preprocessing(defaults: RecipeDefaults) throws -> Preprocessing {
        let preprocessing = Preprocessing(mode: preprocess ?? defaults.preprocess, loadSize: loadSize ?? defaults.loadSize,
                                          cropSize: cropSize ?? defaults.cropSize, flip: !noFlip)
        do { try preprocessing.validate() } catch { throw ValidationError("\(error)") }
        return preprocessing
    }
}

/// Which side is the input and how many channels each side has (the A/B recipes: CycleGAN, pix2pix).
public struct PairedDataArguments: ParsableArguments {
    @Option(help: "Which side is the input.") public var direction: Direction = .aToB
    @Option(help: "Channels of A images (1 or 3).") public var inputChannels = 3
    @Option(help: "Channels of B images (1 or 3).") public var outputChannels = 3

    public init() {}

    public func validate() throws {
        guard [1, 3].contains(inputChannels), [1, 3].contains(outputChannels) else {
            throw ValidationError("--input-channels and --output-channels must be 1 or 3")
        }
    }
}
