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
    /// Spectral normalisation (``normalizeSpectrally(generator:)``): the power-iteration vectors `weight_u [Cout]`
    /// and `weight_v [Cin/groups·k·k]` (buffers, saved with the module).
    public private(set) var spectral: (u: Tensor, v: Tensor)?

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
        Tensor.conv2d(input, weight: spectral == nil ? weight : spectrallyNormalizedWeight(), bias: bias, stride: stride,
                      padding: padding, dilation: dilation, groups: groups)
    }

    /// From now on the layer uses W / σ(W), σ the largest singular value of W as a `[Cout, Cin/groups·k·k]` matrix,
    /// estimated as torch.nn.utils.spectral_norm (Miyato et al. 2018): u, v start as normalised N(0, 1) draws; each
    /// training-mode forward does one power iteration (v ← Wᵀu/‖Wᵀu‖, u ← Wv/‖Wv‖, no gradient), and σ = uᵀWv is
    /// differentiated through W. Evaluation mode reuses the stored u and v.
    public func normalizeSpectrally(generator: RandomGenerator = .shared) {
        guard spectral == nil else { return }
        let rows = weight.shape[0], columns = weight.count / rows
        let u = Self.unitVector(Tensor.randomNormal([rows], generator: generator))
        let v = Self.unitVector(Tensor.randomNormal([columns], generator: generator))
        registerBuffer("weight_u", u)
        registerBuffer("weight_v", v)
        spectral = (u, v)
    }

    func spectrallyNormalizedWeight() -> Tensor {
        guard let (u, v) = spectral else { return weight }
        let rows = weight.shape[0], columns = weight.count / rows
        let matrix = weight.reshaped([rows, columns])
        if isTraining {
            withoutGradient {
                v.assign(Self.unitVector(matrix.matmul(u.reshaped([rows, 1]), transposeSelf: true)))
                u.assign(Self.unitVector(matrix.matmul(v.reshaped([columns, 1]))))
            }
        }
        let sigma = u.reshaped([1, rows]).matmul(matrix).matmul(v.reshaped([columns, 1]))
        return weight / sigma.reshaped([1, 1, 1, 1])
    }

    /// `vector` / max(‖vector‖, 1e-12) (F.normalize's ε).
    static func unitVector(_ vector: Tensor) -> Tensor {
        vector / Swift.max(vector.scalars.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
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
