import Foundation
import Tensor

/// 2-D convolution layer (torch.nn.Conv2d) with zero padding. Parameters `weight [Cout, Cin/groups, k, k]`,
/// `bias [Cout]`. Input `[N, Cin, H, W]`, output `[N, Cout, Ho, Wo]`, Ho = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1.
/// Initialised like PyTorch: U(−1/√fanIn, 1/√fanIn) for weight and bias.
public final class Conv2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int
    public let dilation: Int
    public let groups: Int

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        dilation: Int = 1, groups: Int = 1, bias: Bool = true, generator: RandomGenerator = .shared
    ) {
        precondition(inputChannels % groups == 0 && outputChannels % groups == 0, "channels must divide into groups")
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        let fanIn = inputChannels / groups * kernelSize * kernelSize
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Tensor.randomUniform([outputChannels, inputChannels / groups, kernelSize, kernelSize],
                                      low: -bound, high: bound, generator: generator)
        self.bias = bias ? Tensor.randomUniform([outputChannels], low: -bound, high: bound, generator: generator) : nil
        super.init()
        registerParameter("weight", weight)
        if let biasTensor = self.bias { registerParameter("bias", biasTensor) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        Tensor.conv2d(input, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// Transposed 2-D convolution layer (torch.nn.ConvTranspose2d). Parameters `weight [Cin, Cout/groups, k, k]`,
/// `bias [Cout]`. Output side (H − 1)·s − 2p + d(k − 1) + outputPadding + 1.
public final class ConvTranspose2d: Module {
    public let weight: Tensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int
    public let outputPadding: Int
    public let dilation: Int
    public let groups: Int

    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
        outputPadding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true,
        generator: RandomGenerator = .shared
    ) {
        self.stride = stride
        self.padding = padding
        self.outputPadding = outputPadding
        self.dilation = dilation
        self.groups = groups
        let fanIn = outputChannels / groups * kernelSize * kernelSize
        let bound = 1 / Float(fanIn).squareRoot()
        weight = Tensor.randomUniform([inputChannels, outputChannels / groups, kernelSize, kernelSize],
                                      low: -bound, high: bound, generator: generator)
        self.bias = bias ? Tensor.randomUniform([outputChannels], low: -bound, high: bound, generator: generator) : nil
        super.init()
        registerParameter("weight", weight)
        if let biasTensor = self.bias { registerParameter("bias", biasTensor) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        Tensor.convTranspose2d(input, weight: weight, bias: bias, stride: stride, padding: padding,
                               outputPadding: outputPadding, dilation: dilation, groups: groups)
    }
}

/// Fully connected layer (torch.nn.Linear): `weight [out, in]`, `bias [out]`; input `[…, in]`, output `[…, out]`.
public final class Linear: Module {
    public let weight: Tensor
    public let bias: Tensor?

    public init(inputFeatures: Int, outputFeatures: Int, bias: Bool = true, generator: RandomGenerator = .shared) {
        let bound = 1 / Float(inputFeatures).squareRoot()
        weight = Tensor.randomUniform([outputFeatures, inputFeatures], low: -bound, high: bound, generator: generator)
        self.bias = bias ? Tensor.randomUniform([outputFeatures], low: -bound, high: bound, generator: generator) : nil
        super.init()
        registerParameter("weight", weight)
        if let biasTensor = self.bias { registerParameter("bias", biasTensor) }
    }

    public override func forward(_ input: Tensor) -> Tensor { Tensor.linear(input, weight: weight, bias: bias) }
}
