import Datasets
import Foundation
import ImageIO
import Models
import NN
import Training
import Tensor

/// Runs a generator over images at their own size: reflect-pad to the architecture's side multiple, forward,
/// crop back. No resizing unless asked (`shortSide`).
struct ImageTranslator {
    let generator: LoadedGenerator
    let shortSide: Int?
    let maximumPixels: Int
    /// Large images through ResNet generators run in tiles with shared instance-norm statistics.
    let tiling: TiledInference

    /// A 1 → 2 channel generator is a Lab colorizer: it sees the lightness and predicts the chroma,
    /// which is merged back with the original lightness.
    var isColorizer: Bool { generator.architecture.inputChannels == 1 && generator.architecture.outputChannels == 2 }

    func translate(_ image: Image, path: String, progress: ((Int, Int) -> Void)? = nil) throws -> Image {
        let channels = generator.architecture.inputChannels
        var source = (channels == 1 && !isColorizer ? image.grayscale() : image.rgb()).converted(toBitDepth: 8)
        if let shortSide, min(source.width, source.height) != shortSide {
            let scale = Double(shortSide) / Double(min(source.width, source.height))
            source = source.resized(width: max(1, Int((Double(source.width) * scale).rounded())),
                                    height: max(1, Int((Double(source.height) * scale).rounded())), filter: .bicubic)
        }
        guard source.pixelCount <= maximumPixels else {
            throw CommandFailure("\(path): \(source.width)x\(source.height) is \(source.pixelCount) pixels, above --max-pixels \(maximumPixels); use --size to shrink it or raise --max-pixels")
        }
        let multiple = generator.architecture.sideMultiple
        let padWidth = (multiple - source.width % multiple) % multiple, padHeight = (multiple - source.height % multiple) % multiple
        let lightness = isColorizer ? ColorizationDataset.split(source).lightness : nil
        var tensor = lightness ?? source.tensor()
        if padWidth > 0 || padHeight > 0 {
            // Reflection needs the pad to be smaller than the side; beyond that, repeat the edge.
            let mode: PaddingMode = (padWidth / 2 + padWidth % 2 < source.width && padHeight / 2 + padHeight % 2 < source.height) ? .reflect : .replicate
            tensor = tensor.padded(left: padWidth / 2, right: padWidth - padWidth / 2, top: padHeight / 2,
                                   bottom: padHeight - padHeight / 2, mode: mode)
        }
        var result: Tensor
        if generator.architecture.kind == .resnet && tiling.needsTiling(height: tensor.shape[2], width: tensor.shape[3]) {
            result = tiling.run(generator.module, on: tensor, progress: progress)
        } else {
            result = withoutGradient { generator.module(tensor) }
        }
        if padWidth > 0 || padHeight > 0 {
            result = result.sliced(axis: 2, (padHeight / 2)..<(padHeight / 2 + source.height))
                .sliced(axis: 3, (padWidth / 2)..<(padWidth / 2 + source.width))
        }
        if let lightness { return ColorizationDataset.merge(lightness: lightness, chroma: result) }
        return Image(tensor: result)
    }
}
