import Foundation

/// Reference-counted, 64-byte aligned float32 storage shared by a tensor and its views.
///
/// The memory is released as soon as the last tensor that uses it dies, which is what lets inference
/// mode free intermediates immediately.
public final class TensorStorage: @unchecked Sendable {
    /// First element of the allocation.
    public let pointer: UnsafeMutablePointer<Float>
    /// Number of floats allocated.
    public let count: Int

    /// Allocates `count` uninitialised floats (large ones are recycled through ``BufferPool``).
    public init(uninitializedCount count: Int) {
        self.count = count
        pointer = BufferPool.allocate(count)
    }

    deinit { BufferPool.release(pointer, count: count) }
}

/// A dense float32 tensor with reverse-mode automatic differentiation.
///
/// Layout: row-major and contiguous. Images are NCHW: `[batch, channels, height, width]`.
/// Reshapes and slices of the first dimension are views that share storage; every other op
/// produces a new contiguous tensor. Half-precision formats exist only as checkpoint storage
/// (see `Float16`/`BFloat16` conversions in the checkpoint code).
///
/// Gradients: set ``requiresGrad`` on leaves, build a scalar loss with the ops, call ``backward(_:)``;
/// each leaf then holds ``grad``. Inside ``withoutGradient(_:)`` no graph is recorded.
public final class Tensor: @unchecked Sendable {
    /// Dimensions, outermost first.
    public let shape: [Int]
    /// Number of elements.
    public let count: Int
    /// Backing storage (possibly shared with views).
    public let storage: TensorStorage
    /// Offset of the first element in ``storage``.
    public let offset: Int
    /// Whether gradients flow to this leaf tensor and accumulate in ``grad``.
    public var requiresGrad: Bool
    /// Accumulated gradient, same shape as the tensor, after ``backward(_:)``.
    public var grad: Tensor?
    /// The op that produced this tensor, when it was recorded on the tape.
    var gradientNode: GradientNode?

    /// Creates a tensor over existing storage (a view when the storage is shared).
    public init(shape: [Int], storage: TensorStorage, offset: Int = 0, requiresGrad: Bool = false) {
        let count = Tensor.elementCount(shape)
        precondition(offset + count <= storage.count, "view \(shape) at \(offset) exceeds storage of \(storage.count)")
        self.shape = shape
        self.count = count
        self.storage = storage
        self.offset = offset
        self.requiresGrad = requiresGrad
    }

    /// Creates an uninitialised tensor. Callers must write every element.
    public convenience init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(uninitializedCount: Tensor.elementCount(shape)))
    }

    /// Creates a tensor filled with `value`.
    public convenience init(shape: [Int], repeating value: Float, requiresGrad: Bool = false) {
        self.init(uninitializedShape: shape)
        self.pointer.update(repeating: value, count: count)
        self.requiresGrad = requiresGrad
    }

    /// Creates a tensor from row-major `scalars`; `scalars.count` must equal the product of `shape`.
    public convenience init(shape: [Int], scalars: [Float], requiresGrad: Bool = false) {
        precondition(scalars.count == Tensor.elementCount(shape), "\(scalars.count) scalars for shape \(shape)")
        self.init(uninitializedShape: shape)
        scalars.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { self.pointer.update(from: base, count: count) }
        }
        self.requiresGrad = requiresGrad
    }

    /// A scalar (shape `[]`).
    public convenience init(_ value: Float) {
        self.init(shape: [], repeating: value)
    }

    /// Zeros of the given shape.
    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, repeating: 0, requiresGrad: requiresGrad)
    }

    /// Ones of the given shape.
    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, repeating: 1, requiresGrad: requiresGrad)
    }

    /// Samples of N(mean, std²) from `generator`.
    public static func randomNormal(
        _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1,
        generator: RandomGenerator = .shared, requiresGrad: Bool = false
    ) -> Tensor {
        let tensor = Tensor(uninitializedShape: shape)
        generator.fillNormal(tensor.pointer, count: tensor.count, mean: mean, standardDeviation: standardDeviation)
        tensor.requiresGrad = requiresGrad
        return tensor
    }

    /// Samples of U[low, high) from `generator`.
    public static func randomUniform(
        _ shape: [Int], low: Float = 0, high: Float = 1,
        generator: RandomGenerator = .shared, requiresGrad: Bool = false
    ) -> Tensor {
        let tensor = Tensor(uninitializedShape: shape)
        generator.fillUniform(tensor.pointer, count: tensor.count, low: low, high: high)
        tensor.requiresGrad = requiresGrad
        return tensor
    }

    /// Evenly spaced values `start, start + step, …` (a ramp), handy for exact test inputs.
    public static func ramp(_ shape: [Int], start: Float = 0, step: Float = 1) -> Tensor {
        let tensor = Tensor(uninitializedShape: shape)
        for index in 0..<tensor.count { tensor.pointer[index] = start + Float(index) * step }
        return tensor
    }

    /// Product of the dimensions.
    public static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1) { partial, dimension in
            precondition(dimension >= 0, "negative dimension in \(shape)")
            return partial * dimension
        }
    }

    /// Pointer to the first element (row-major, contiguous).
    public var pointer: UnsafeMutablePointer<Float> { storage.pointer + offset }

    /// Number of dimensions.
    public var rank: Int { shape.count }

    /// The elements in row-major order.
    public var scalars: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// The single element of a one-element tensor.
    public var item: Float {
        precondition(count == 1, "item of a tensor with \(count) elements")
        return pointer[0]
    }

    /// Whether this tensor takes part in gradient computation.
    public var needsGradient: Bool { requiresGrad || gradientNode != nil }

    /// A new tensor with the same values and no gradient history.
    public func copied() -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        result.pointer.update(from: pointer, count: count)
        return result
    }

    /// The same values, cut from the tape (shares storage).
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage, offset: offset)
    }

    /// Overwrites the values in place with those of `source` (same element count). Not recorded.
    public func assign(_ source: Tensor) {
        precondition(source.count == count, "assign \(source.shape) into \(shape)")
        pointer.update(from: source.pointer, count: count)
    }

    /// Overwrites every element with `value` in place. Not recorded.
    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// Size of dimension `axis` (negative counts from the end).
    public func size(_ axis: Int) -> Int { shape[normalizedAxis(axis)] }

    /// Resolves a possibly negative axis.
    public func normalizedAxis(_ axis: Int) -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        precondition(resolved >= 0 && resolved < Swift.max(rank, 1), "axis \(axis) out of range for shape \(shape)")
        return resolved
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let preview = scalars.prefix(8).map { String(format: "%.5g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(preview)\(count > 8 ? ", …" : "")])"
    }
}
