import _TestSupport
import Tensor
import XCTest

final class TensorBehaviourTests: XCTestCase {
    func testBroadcastingValues() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3], scalars: [10, 20, 30])
        XCTAssertEqual((a + b).scalars, [11, 22, 33, 14, 25, 36])
        let column = Tensor(shape: [2, 1], scalars: [2, 3])
        XCTAssertEqual((a * column).scalars, [2, 4, 6, 12, 15, 18])
        XCTAssertEqual((a - 1).scalars, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(a.sum(axes: [0]).scalars, [5, 7, 9])
        XCTAssertEqual(a.mean(axes: [1]).scalars, [2, 5])
        XCTAssertEqual(a.max(axis: 1).scalars, [3, 6])
        XCTAssertEqual(a.transposed().scalars, [1, 4, 2, 5, 3, 6])
        XCTAssertEqual(a.variance(axes: [1]).scalars, [1, 1])
    }

    func testReshapeIsAViewAndSliceOfFirstAxisToo() {
        let a = Tensor.ramp([4, 3])
        let view = a.reshaped([2, 6])
        XCTAssertTrue(view.storage === a.storage)
        let rows = a.sliced(axis: 0, 1..<3)
        XCTAssertTrue(rows.storage === a.storage)
        XCTAssertEqual(rows.scalars, [3, 4, 5, 6, 7, 8])
        XCTAssertEqual(a.sliced(axis: 1, 1..<2).scalars, [1, 4, 7, 10])
    }

    func testGradientsAccumulateAcrossBackwardCallsAndUses() {
        let x = Tensor(shape: [2], scalars: [1, 2], requiresGrad: true)
        (x * x + x).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [3, 5])
        (x * 2).sum().backward()
        XCTAssertEqual(x.grad?.scalars, [5, 7])
        x.zeroGrad()
        XCTAssertNil(x.grad)
    }

    func testInferenceModeRecordsNothing() {
        let x = Tensor.ones([3], requiresGrad: true)
        let recorded = x * 2
        XCTAssertTrue(recorded.needsGradient)
        let free = withoutGradient { x * 2 }
        XCTAssertFalse(free.needsGradient)
    }

    func testInferenceModeFreesIntermediates() {
        weak var intermediate: TensorStorage?
        let x = Tensor.ones([1, 4, 8, 8], requiresGrad: true)
        let y: Tensor = withoutGradient {
            let hidden = x.relu()
            intermediate = hidden.storage
            return hidden.tanh()
        }
        XCTAssertNil(intermediate, "an intermediate survived in inference mode")
        weak var kept: TensorStorage?
        let z: Tensor = {
            let hidden = x.relu()
            kept = hidden.storage
            return hidden.tanh()
        }()
        XCTAssertNotNil(kept, "the tape must keep what backward needs")
        XCTAssertEqual(y.shape, z.shape)
    }

    /// Recorded graphs are freed once their results die: no op's backward closure keeps its own output alive.
    func testRecordedGraphsAreReleased() {
        weak var weakOutputs: Tensor?
        weak var weakStorage: TensorStorage?
        do {
            let x = Tensor.randomNormal([1, 4, 6, 6], requiresGrad: true)
            let w = Tensor.randomNormal([4, 4, 3, 3], requiresGrad: true)
            let hidden = Tensor.conv2d(x, weight: w, padding: 1).instanceNormalized().tanh().softmax(axis: 1)
                .padded(1, mode: .reflect).sigmoid()
            weakOutputs = hidden
            weakStorage = hidden.storage
            hidden.sum().backward()
            XCTAssertNotNil(x.grad)
        }
        XCTAssertNil(weakOutputs, "a recorded tensor outlived its scope (retain cycle through its tape node)")
        XCTAssertNil(weakStorage)
    }

    /// The live-tensor counter behind the bench's memory figures: a 2²⁰-float tensor adds 4 MB while alive (pooled or
    /// not), the peak remembers it after release, and a reset starts from what is alive.
    func testLiveTensorBytesAreCounted() {
        let before = BufferPool.liveBytes
        BufferPool.resetPeakLiveBytes()
        do {
            let large = Tensor.zeros([1 << 20])
            let small = Tensor.zeros([10])
            XCTAssertEqual(BufferPool.liveBytes - before, (1 << 22) + 40)
            XCTAssertEqual(large.count + small.count, (1 << 20) + 10)
        }
        XCTAssertEqual(BufferPool.liveBytes, before)
        XCTAssertEqual(BufferPool.peakLiveBytes - before, (1 << 22) + 40)
        BufferPool.resetPeakLiveBytes()
        XCTAssertEqual(BufferPool.peakLiveBytes, before)
    }

    func testSeededRandomnessIsDeterministic() {
        let a = Tensor.randomNormal([100], generator: RandomGenerator(seed: 42))
        let b = Tensor.randomNormal([100], generator: RandomGenerator(seed: 42))
        XCTAssertEqual(a.scalars, b.scalars)
        let c = Tensor.randomNormal([100000], generator: RandomGenerator(seed: 7))
        let mean = c.mean().item, deviation = c.variance(axes: [0]).item.squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.02)
        XCTAssertEqual(deviation, 1, accuracy: 0.02)
    }

    /// Both lowering strategies against a direct six-loop convolution on random geometries.
    func testConvolutionStrategiesMatchDirectLoops() {
        let generator = RandomGenerator(seed: 5)
        for trial in 0..<24 {
            let groups = [1, 2][generator.nextInt(below: 2)]
            let inputPerGroup = [1, 3, 16, 17][generator.nextInt(below: 4)]
            let outputPerGroup = 1 + generator.nextInt(below: 4)
            let kernel = [1, 2, 3, 5][generator.nextInt(below: 4)]
            let stride = 1 + generator.nextInt(below: 3), padding = generator.nextInt(below: 3)
            let dilation = 1 + generator.nextInt(below: 2)
            let height = kernel * dilation + generator.nextInt(below: 6), width = kernel * dilation + generator.nextInt(below: 6)
            let batch = 1 + generator.nextInt(below: 2)
            let x = Tensor.randomNormal([batch, inputPerGroup * groups, height, width], generator: generator)
            let w = Tensor.randomNormal([outputPerGroup * groups, inputPerGroup, kernel, kernel], generator: generator)
            let actual = withoutGradient {
                Tensor.conv2d(x, weight: w, stride: stride, padding: padding, dilation: dilation, groups: groups)
            }
            let geometry = ConvolutionGeometry(batch: batch, inputChannels: inputPerGroup * groups, inputHeight: height,
                                               inputWidth: width, outputChannels: outputPerGroup * groups,
                                               kernelHeight: kernel, kernelWidth: kernel, stride: stride,
                                               padding: padding, dilation: dilation, groups: groups)
            XCTAssertEqual(actual.shape, [batch, outputPerGroup * groups, geometry.outputHeight, geometry.outputWidth])
            var worst: Float = 0
            for n in 0..<batch {
                for o in 0..<(outputPerGroup * groups) {
                    let group = o / outputPerGroup
                    for y in 0..<geometry.outputHeight {
                        for xx in 0..<geometry.outputWidth {
                            var total: Float = 0
                            for i in 0..<inputPerGroup {
                                for ky in 0..<kernel {
                                    for kx in 0..<kernel {
                                        let iy = y * stride - padding + ky * dilation, ix = xx * stride - padding + kx * dilation
                                        guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                        let channel = group * inputPerGroup + i
                                        total += x.pointer[((n * inputPerGroup * groups + channel) * height + iy) * width + ix]
                                            * w.pointer[((o * inputPerGroup + i) * kernel + ky) * kernel + kx]
                                    }
                                }
                            }
                            let index = ((n * outputPerGroup * groups + o) * geometry.outputHeight + y) * geometry.outputWidth + xx
                            worst = max(worst, abs(actual.pointer[index] - total))
                        }
                    }
                }
            }
            XCTAssertLessThan(worst, 1e-3, "trial \(trial): \(geometry) via \(ConvolutionStrategy.choose(for: geometry))")
        }
    }

    /// Winograd and kernel-to-row forward paths against the shifted-GEMM path they replace, on geometries
    /// chosen to select them (partial edge tiles, padding 0–2, several bands).
    func testFastForwardPathsMatchTheGeneralPath() {
        let cases: [(input: [Int], weight: [Int], padding: Int, dilation: Int, expected: ConvolutionStrategy)] = [
            ([2, 32, 7, 9], [32, 32, 3, 3], 1, 1, .winograd),
            ([1, 48, 10, 5], [40, 48, 3, 3], 0, 1, .winograd),
            ([1, 33, 6, 6], [35, 33, 3, 3], 2, 1, .winograd),
            ([1, 64, 50, 49], [72, 64, 3, 3], 1, 1, .winogradF4),
            ([1, 80, 52, 50], [64, 80, 3, 3], 0, 1, .winogradF4),
            ([1, 64, 47, 48], [64, 64, 3, 3], 2, 1, .winogradF4),
            ([1, 64, 30, 30], [64, 64, 3, 3], 1, 1, .winograd),
            ([1, 64, 30, 22], [3, 64, 7, 7], 3, 1, .kernelToRow),
            ([2, 8, 12, 13], [5, 8, 3, 3], 1, 2, .kernelToRow),
        ]
        for (index, item) in cases.enumerated() {
            let x = seededNormal(item.input, seed: UInt64(10 + index))
            let w = seededNormal(item.weight, seed: UInt64(20 + index), scale: 0.1)
            let geometry = ConvolutionGeometry(batch: item.input[0], inputChannels: item.input[1], inputHeight: item.input[2],
                                               inputWidth: item.input[3], outputChannels: item.weight[0],
                                               kernelHeight: item.weight[2], kernelWidth: item.weight[3],
                                               padding: item.padding, dilation: item.dilation)
            XCTAssertEqual(ConvolutionStrategy.choose(for: geometry), item.expected)
            let fast = withoutGradient { Tensor.conv2d(x, weight: w, padding: item.padding, dilation: item.dilation) }
            let saved = ConvolutionKernels.chunkBudget
            ConvolutionKernels.chunkBudget = 300   // also forces several tile chunks / row bands
            let chunked = withoutGradient { Tensor.conv2d(x, weight: w, padding: item.padding, dilation: item.dilation) }
            ConvolutionKernels.chunkBudget = saved
            let direct = directConvolution(x, w, padding: item.padding, dilation: item.dilation)
            assertClose(fast, direct, absolute: 2e-4, relative: 1e-3, "case \(index) \(item.expected)")
            assertClose(chunked, direct, absolute: 2e-4, relative: 1e-3, "case \(index) chunked")
        }
    }

    /// Winograd input and weight gradients against the GEMM lowerings (padding 0–2, odd sides so edge tiles are
    /// partial, batch 2, and with a tiny chunk budget several tile chunks).
    func testWinogradBackwardMatchesTheGeneralPath() {
        let cases: [(input: [Int], weight: [Int], padding: Int)] = [
            ([2, 32, 7, 9], [36, 32, 3, 3], 1), ([1, 48, 10, 5], [40, 48, 3, 3], 0), ([1, 33, 6, 7], [35, 33, 3, 3], 2),
            ([1, 64, 50, 49], [70, 64, 3, 3], 1), ([1, 72, 52, 51], [64, 72, 3, 3], 0),
        ]
        for (index, item) in cases.enumerated() {
            let geometry = ConvolutionGeometry(batch: item.input[0], inputChannels: item.input[1], inputHeight: item.input[2],
                                               inputWidth: item.input[3], outputChannels: item.weight[0],
                                               kernelHeight: 3, kernelWidth: 3, padding: item.padding)
            // F(4×4, 3×3) where both channel counts reach 64 and the input gradient's planes are ≥ 8×8.
            let large = item.input[1] >= 64 && item.weight[0] >= 64 && min(item.input[2] * item.input[3], geometry.outputPlane) >= 48 * 48
            XCTAssertEqual(ConvolutionStrategy.choose(for: geometry, pass: .backwardInput), large ? .winogradF4 : .winograd)
            XCTAssertEqual(ConvolutionStrategy.choose(for: geometry, pass: .backwardWeight), .winograd)
            func gradients(fast: Bool, budget: Int) -> (Tensor, Tensor) {
                let x = seededNormal(item.input, seed: UInt64(30 + index)), w = seededNormal(item.weight, seed: UInt64(40 + index), scale: 0.1)
                x.requiresGrad = true
                w.requiresGrad = true
                let seed = seededNormal([item.input[0], item.weight[0], geometry.outputHeight, geometry.outputWidth], seed: UInt64(50 + index))
                let saved = ConvolutionKernels.chunkBudget
                ConvolutionStrategy.allowsFastBackwardPaths = fast
                ConvolutionKernels.chunkBudget = budget
                defer { ConvolutionStrategy.allowsFastBackwardPaths = true; ConvolutionKernels.chunkBudget = saved }
                Tensor.conv2d(x, weight: w, padding: item.padding).backward(seed)
                return (x.grad!, w.grad!)
            }
            let reference = gradients(fast: false, budget: ConvolutionKernels.chunkBudget)
            for budget in [ConvolutionKernels.chunkBudget, 300] {
                let fast = gradients(fast: true, budget: budget)
                assertClose(fast.0, reference.0, absolute: 2e-4, relative: 1e-3, "case \(index) input gradient, budget \(budget)")
                assertClose(fast.1, reference.1, absolute: 1e-3, relative: 1e-3, "case \(index) weight gradient, budget \(budget)")
            }
        }
    }

    /// Strided convolutions with enough channels (and output planes of 256 pixels or more) run as shifted GEMMs over phase planes: forward, input and weight
    /// gradients against direct loops in double (strides 2 and 3, kernels 3 and 4, padding 0–2, dilation 1–2, and
    /// with a tiny chunk budget several chunks).
    func testStridedShiftedGEMMMatchesDirectLoops() {
        let cases: [(input: [Int], weight: [Int], stride: Int, padding: Int, dilation: Int)] = [
            ([1, 16, 33, 35], [20, 16, 3, 3], 2, 1, 1), ([2, 17, 36, 34], [18, 17, 4, 4], 2, 1, 1),
            ([1, 16, 50, 49], [16, 16, 3, 3], 3, 2, 1), ([1, 20, 37, 37], [16, 20, 3, 3], 2, 0, 2),
        ]
        for (index, item) in cases.enumerated() {
            let geometry = ConvolutionGeometry(batch: item.input[0], inputChannels: item.input[1], inputHeight: item.input[2],
                                               inputWidth: item.input[3], outputChannels: item.weight[0], kernelHeight: item.weight[2],
                                               kernelWidth: item.weight[3], stride: item.stride, padding: item.padding, dilation: item.dilation)
            for pass in [ConvolutionStrategy.Pass.forward, .backwardInput, .backwardWeight] {
                XCTAssertEqual(ConvolutionStrategy.choose(for: geometry, pass: pass), .shiftedGEMM, "case \(index)")
            }
            let x = seededNormal(item.input, seed: UInt64(60 + index)), w = seededNormal(item.weight, seed: UInt64(70 + index), scale: 0.1)
            let seed = seededNormal([item.input[0], item.weight[0], geometry.outputHeight, geometry.outputWidth], seed: UInt64(80 + index))
            // Direct loops in double.
            var output = [Double](repeating: 0, count: seed.count), inputGradient = [Double](repeating: 0, count: x.count)
            var weightGradient = [Double](repeating: 0, count: w.count)
            let (n, ci, h, wi, co, k) = (item.input[0], item.input[1], item.input[2], item.input[3], item.weight[0], item.weight[2])
            for b in 0..<n { for o in 0..<co { for y in 0..<geometry.outputHeight { for xx in 0..<geometry.outputWidth {
                let outIndex = ((b * co + o) * geometry.outputHeight + y) * geometry.outputWidth + xx
                for c in 0..<ci { for ky in 0..<k { for kx in 0..<k {
                    let iy = y * item.stride - item.padding + ky * item.dilation, ix = xx * item.stride - item.padding + kx * item.dilation
                    guard iy >= 0, iy < h, ix >= 0, ix < wi else { continue }
                    let inIndex = ((b * ci + c) * h + iy) * wi + ix, wIndex = ((o * ci + c) * k + ky) * k + kx
                    output[outIndex] += Double(x.pointer[inIndex]) * Double(w.pointer[wIndex])
                    inputGradient[inIndex] += Double(seed.pointer[outIndex]) * Double(w.pointer[wIndex])
                    weightGradient[wIndex] += Double(seed.pointer[outIndex]) * Double(x.pointer[inIndex])
                } } }
            } } } }
            for budget in [ConvolutionKernels.chunkBudget, 200] {
                let saved = ConvolutionKernels.chunkBudget
                ConvolutionKernels.chunkBudget = budget
                defer { ConvolutionKernels.chunkBudget = saved }
                let input = x.copied(), kernel = w.copied()
                input.requiresGrad = true
                kernel.requiresGrad = true
                let y = Tensor.conv2d(input, weight: kernel, stride: item.stride, padding: item.padding, dilation: item.dilation)
                y.backward(seed)
                func expect(_ actual: Tensor, _ expected: [Double], _ what: String) {
                    let worst = zip(actual.scalars, expected).map { abs(Double($0) - $1) }.max() ?? 0
                    XCTAssertLessThan(worst, 1e-4, "case \(index) \(what), budget \(budget)")
                }
                expect(y, output, "output")
                expect(input.grad!, inputGradient, "input gradient")
                expect(kernel.grad!, weightGradient, "weight gradient")
            }
        }
    }

    func directConvolution(_ x: Tensor, _ w: Tensor, padding: Int, dilation: Int) -> Tensor {
        let (batch, inputs, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (outputs, kernel) = (w.shape[0], w.shape[2])
        let outHeight = height + 2 * padding - dilation * (kernel - 1), outWidth = width + 2 * padding - dilation * (kernel - 1)
        let result = Tensor.zeros([batch, outputs, outHeight, outWidth])
        for n in 0..<batch {
            for o in 0..<outputs {
                for y in 0..<outHeight {
                    for xx in 0..<outWidth {
                        var total: Double = 0
                        for i in 0..<inputs {
                            for ky in 0..<kernel {
                                for kx in 0..<kernel {
                                    let iy = y - padding + ky * dilation, ix = xx - padding + kx * dilation
                                    guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                                    total += Double(x.pointer[((n * inputs + i) * height + iy) * width + ix])
                                        * Double(w.pointer[((o * inputs + i) * kernel + ky) * kernel + kx])
                                }
                            }
                        }
                        result.pointer[((n * outputs + o) * outHeight + y) * outWidth + xx] = Float(total)
                    }
                }
            }
        }
        return result
    }

    func testSmallChunkBudgetGivesTheSameConvolution() {
        let x = seededNormal([1, 16, 11, 10], seed: 1), w = seededNormal([8, 16, 3, 3], seed: 2, scale: 0.1)
        let y = seededNormal([1, 3, 11, 10], seed: 3), v = seededNormal([4, 3, 3, 3], seed: 4)
        let reference = withoutGradient { Tensor.conv2d(x, weight: w, padding: 1) }
        let strided = withoutGradient { Tensor.conv2d(y, weight: v, stride: 2, padding: 1) }
        let saved = ConvolutionKernels.chunkBudget
        ConvolutionKernels.chunkBudget = 50
        defer { ConvolutionKernels.chunkBudget = saved }
        assertClose(withoutGradient { Tensor.conv2d(x, weight: w, padding: 1) }, reference, absolute: 1e-5, "shifted chunks")
        assertClose(withoutGradient { Tensor.conv2d(y, weight: v, stride: 2, padding: 1) }, strided, absolute: 1e-5, "im2col chunks")
    }
}
