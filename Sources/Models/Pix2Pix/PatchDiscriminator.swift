import Foundation
import NN
import Tensor

/// The PatchGAN discriminator (`basic` = n_layers 3: 70×70 receptive field) of the reference implementation.
///
/// Input `[N, C, H, W]`; output `[N, 1, H', W']` of real/fake logits per patch. Keys `model.0` … as the reference
/// `NLayerDiscriminator`.
public final class PatchDiscriminator: Module {
    public let model: Sequential

    public init(inputChannels: Int, filters: Int = 64, layers: Int = 3, normalization: NormalizationKind = .batch,
                generator: RandomGenerator = .shared) {
        let bias = normalization.convolutionsUseBias
        var modules: [Module] = [
            Conv2d(inputChannels: inputChannels, outputChannels: filters, kernelSize: 4, stride: 2, padding: 1, generator: generator),
            Activation(.leakyReLU(negativeSlope: 0.2)),
        ]
        var multiplier = 1
        for layer in 1..<(layers + 1) {
            let previous = multiplier
            multiplier = min(1 << layer, 8)
            modules += [
                Conv2d(inputChannels: filters * previous, outputChannels: filters * multiplier, kernelSize: 4,
                       stride: layer < layers ? 2 : 1, padding: 1, bias: bias, generator: generator),
                normalization.makeLayer(channels: filters * multiplier),
                Activation(.leakyReLU(negativeSlope: 0.2)),
            ]
        }
        modules.append(Conv2d(inputChannels: filters * multiplier, outputChannels: 1, kernelSize: 4, stride: 1, padding: 1,
                              generator: generator))
        model = Sequential(modules)
        super.init()
        registerModule("model", model)
    }

    public override func forward(_ input: Tensor) -> Tensor { model(input) }
}
