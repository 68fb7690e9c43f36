import _TestSupport
import NN
import Tensor
import XCTest

final class OptimizerTests: XCTestCase {
    /// Adam, Adam with L2 decay and AdamW reproduce torch.optim step by step to 1e-6 relative.
    func testAdamMatchesPyTorchStepByStep() throws {
        let configurations: [(String, (Tensor) -> Adam)] = [
            ("adam", { Adam(parameters: [("p", $0)], learningRate: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8) }),
            ("adam_l2", { Adam(parameters: [("p", $0)], learningRate: 1e-2, beta1: 0.9, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1) }),
            ("adamw", { Adam.adamW(parameters: [("p", $0)], learningRate: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.05) }),
        ]
        for (name, make) in configurations {
            let parameter = try ParityFixtures.tensor(name, "initial")
            parameter.requiresGrad = true
            let optimizer = make(parameter)
            for step in 0..<6 {
                parameter.grad = try ParityFixtures.tensor(name, "grad_\(step)")
                optimizer.step()
                assertClose(parameter, try ParityFixtures.tensor(name, "param_\(step)"), absolute: 1e-7, relative: 1e-6,
                            "\(name) step \(step)")
            }
        }
    }

    func testSGDWithMomentumAndNesterov() {
        let parameter = Tensor(shape: [1], scalars: [1], requiresGrad: true)
        let optimizer = SGD(parameters: [("p", parameter)], learningRate: 0.1, momentum: 0.9)
        parameter.grad = Tensor(shape: [1], scalars: [1])
        optimizer.step()   // buffer 1, p = 0.9
        XCTAssertEqual(parameter.item, 0.9, accuracy: 1e-6)
        optimizer.step()   // buffer 1.9, p = 0.71
        XCTAssertEqual(parameter.item, 0.71, accuracy: 1e-6)
        let nesterov = Tensor(shape: [1], scalars: [1], requiresGrad: true)
        let nesterovOptimizer = SGD(parameters: [("p", nesterov)], learningRate: 0.1, momentum: 0.9, nesterov: true)
        nesterov.grad = Tensor(shape: [1], scalars: [1])
        nesterovOptimizer.step()   // buffer 1, direction 1.9
        XCTAssertEqual(nesterov.item, 0.81, accuracy: 1e-6)
    }

    func testLearningRateSchedules() {
        // CycleGAN: 100 constant epochs then 100 decaying (epoch_count 1).
        let linear = LearningRateSchedule.linearDecay(constantEpochs: 100, decayEpochs: 100)
        XCTAssertEqual(linear.learningRate(base: 2e-4, epoch: 0), 2e-4)
        XCTAssertEqual(linear.learningRate(base: 2e-4, epoch: 99), 2e-4)
        XCTAssertEqual(linear.learningRate(base: 2e-4, epoch: 100), 2e-4 * (1 - 1 / 101), accuracy: 1e-10)
        XCTAssertEqual(linear.learningRate(base: 2e-4, epoch: 199), 2e-4 * (1 - 100 / 101), accuracy: 1e-10)
        let step = LearningRateSchedule.step(stepSize: 10, gamma: 0.5)
        XCTAssertEqual(step.learningRate(base: 1, epoch: 9), 1)
        XCTAssertEqual(step.learningRate(base: 1, epoch: 25), 0.25)
        let cosine = LearningRateSchedule.cosine(period: 10, minimum: 0.1)
        XCTAssertEqual(cosine.learningRate(base: 1, epoch: 0), 1, accuracy: 1e-6)
        XCTAssertEqual(cosine.learningRate(base: 1, epoch: 5), 0.55, accuracy: 1e-6)
        XCTAssertEqual(cosine.learningRate(base: 1, epoch: 10), 0.1, accuracy: 1e-6)
    }

    func testExponentialMovingAverage() throws {
        let layer = Linear(inputFeatures: 1, outputFeatures: 1)
        layer.weight.fill(0)
        let average = ExponentialMovingAverage(parameters: layer.namedParameters(), decay: 0.9)
        layer.weight.fill(1)
        average.update()
        XCTAssertEqual(average.shadows[0].tensor.item, 0.1, accuracy: 1e-6)
        average.update()
        XCTAssertEqual(average.shadows[0].tensor.item, 0.19, accuracy: 1e-6)
        try average.copy(into: layer)
        XCTAssertEqual(layer.weight.item, 0.19, accuracy: 1e-6)
    }

    /// A short regression fit actually learns: the loss falls by 100×.
    func testTrainingLoopReducesLoss() {
        let generator = RandomGenerator(seed: 3)
        let model = Sequential([Linear(inputFeatures: 3, outputFeatures: 16, generator: generator), Activation(.tanh),
                                Linear(inputFeatures: 16, outputFeatures: 1, generator: generator)])
        let x = Tensor.randomNormal([64, 3], generator: generator)
        let target = (x.sliced(axis: 1, 0..<1) * 0.5 - x.sliced(axis: 1, 2..<3) * 0.3).detached()
        let optimizer = Adam(parameters: model.namedParameters(), learningRate: 1e-2)
        var first: Float = 0, last: Float = 0
        for step in 0..<300 {
            optimizer.zeroGrad()
            let loss = Tensor.mseLoss(model(x), target)
            loss.backward()
            optimizer.step()
            if step == 0 { first = loss.item }
            last = loss.item
        }
        XCTAssertLessThan(last, first / 100)
    }
}
