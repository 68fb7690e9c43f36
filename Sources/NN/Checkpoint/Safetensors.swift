import Foundation
import SafeFiles
import Tensor

/// Element formats a safetensors file can hold. Tensors are float32 in memory; F16 and BF16 are
/// storage formats only (rounded to nearest even on write, exact on read).
public enum StorageDataType: String, Sendable, CaseIterable {
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"

    public var byteCount: Int { self == .float32 ? 4 : 2 }
}

/// Errors reading or writing checkpoints; each names the file.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unsupportedDataType(path: String, key: String, dataType: String)
    case missingTensor(path: String, key: String)
    case unwritable(path: String, reason: String)
    /// A PyTorch checkpoint that needs more than a state dict (arbitrary code): refused, never executed.
    case refused(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read: \(reason)"
        case .malformed(let path, let reason): return "\(path): not a valid safetensors file: \(reason)"
        case .unsupportedDataType(let path, let key, let dataType): return "\(path): tensor \(key) has unsupported dtype \(dataType)"
        case .missingTensor(let path, let key): return "\(path): tensor \(key) is missing"
        case .unwritable(let path, let reason): return "\(path): cannot write: \(reason)"
        case .refused(let path, let reason): return "\(path): refusing to load: \(reason)"
        }
    }
}

/// The contents of a safetensors file: named tensors in file order plus string metadata.
public struct SafetensorsArchive {
    public var tensors: [(name: String, tensor: Tensor)]
    public var metadata: [String: String]

    public init(tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// Tensors by name.
    public var dictionary: [String: Tensor] { Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }) }

    /// The tensor called `name`, or a ``CheckpointError/missingTensor(path:key:)`` naming `path`.
    public func tensor(_ name: String, path: String = "checkpoint") throws -> Tensor {
        guard let found = tensors.first(where: { $0.name == name }) else {
            throw CheckpointError.missingTensor(path: path, key: name)
        }
        return found.tensor
    }
}

/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON header
/// `{name: {dtype, shape, data_offsets}, "__metadata__": {…}}`, then the raw little-endian data.
public enum Safetensors {
    /// The largest header accepted (the format's reference implementation uses 100 MB).
    public static let maximumHeaderBytes = 100_000_000

    /// Reads a file. Accepts F32, F16, BF16 and, converted to float, F64, I64, I32, I16, I8, U8, BOOL.
    public static func read(contentsOf url: URL) throws -> SafetensorsArchive {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw CheckpointError.unreadable(path: url.path, reason: FileProblem.sentence(for: error))
        }
        return try decode(data, path: url.path)
    }

    /// The metadata of a file, reading only its header (cheap for a large training state).
    public static func metadata(contentsOf url: URL) throws -> [String: String] {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw CheckpointError.unreadable(path: url.path, reason: FileProblem.sentence(errno: errno))
        }
        defer { try? handle.close() }
        let prefix = handle.readData(ofLength: 8)
        guard prefix.count == 8 else { throw CheckpointError.malformed(path: url.path, reason: "shorter than the 8-byte header length") }
        let length = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard length <= UInt64(maximumHeaderBytes) else {
            throw CheckpointError.malformed(path: url.path, reason: "header length \(length) is implausible")
        }
        let header = handle.readData(ofLength: Int(length))
        guard header.count == Int(length) else { throw CheckpointError.malformed(path: url.path, reason: "the header is cut short") }
        var data = prefix
        data.append(header)
        return try decode(data, path: url.path, headerOnly: true).metadata
    }

    /// Parses safetensors bytes; `path` names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>", headerOnly: Bool = false) throws -> SafetensorsArchive {
        guard data.count >= 8 else { throw CheckpointError.malformed(path: path, reason: "file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(maximumHeaderBytes), Int(headerLength) <= data.count - 8 else {
            throw CheckpointError.malformed(path: path, reason: "header length \(headerLength) exceeds the file")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw CheckpointError.malformed(path: path, reason: "header is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let payloadLength = headerOnly ? Int.max : data.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, dataType: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let dictionary = value as? [String: Any] else {
                    throw CheckpointError.malformed(path: path, reason: "__metadata__ is not an object")
                }
                for (key, item) in dictionary {
                    guard let string = item as? String else { throw CheckpointError.malformed(path: path, reason: "metadata \(key) is not a string") }
                    metadata[key] = string
                }
                continue
            }
            guard let entry = value as? [String: Any], let dataType = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw CheckpointError.malformed(path: path, reason: "entry \(name) lacks dtype, shape or data_offsets") }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= payloadLength else {
                throw CheckpointError.malformed(path: path, reason: "entry \(name) has offsets \(offsets) outside \(payloadLength) data bytes")
            }
            entries.append((name, dataType, shape, offsets[0], offsets[1]))
        }
        if headerOnly { return SafetensorsArchive(tensors: [], metadata: metadata) }
        entries.sort { $0.begin < $1.begin }
        var tensors: [(name: String, tensor: Tensor)] = []
        for entry in entries {
            let count = entry.shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard let width = elementWidth(entry.dataType) else {
                throw CheckpointError.unsupportedDataType(path: path, key: entry.name, dataType: entry.dataType)
            }
            guard entry.end - entry.begin == count * width else {
                throw CheckpointError.malformed(path: path, reason: "entry \(entry.name): \(entry.end - entry.begin) bytes for \(count) × \(entry.dataType)")
            }
            let tensor = Tensor(uninitializedShape: entry.shape)
            data.withUnsafeBytes { raw in
                convert(raw.baseAddress! + dataStart + entry.begin, dataType: entry.dataType, count: count, into: tensor.pointer)
            }
            tensors.append((entry.name, tensor))
        }
        return SafetensorsArchive(tensors: tensors, metadata: metadata)
    }

    static func elementWidth(_ dataType: String) -> Int? {
        switch dataType {
        case "F32", "I32": return 4
        case "F16", "BF16", "I16": return 2
        case "F64", "I64": return 8
        case "I8", "U8", "BOOL": return 1
        default: return nil
        }
    }

    static func convert(_ source: UnsafeRawPointer, dataType: String, count: Int, into destination: UnsafeMutablePointer<Float>) {
        for index in 0..<count {
            let value: Float
            switch dataType {
            case "F32": value = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
            case "F16": value = Float(Float16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))))
            case "BF16": value = Float(bitPattern: UInt32(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: UInt16.self))) << 16)
            case "F64": value = Float(Double(bitPattern: UInt64(littleEndian: source.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))))
            case "I64": value = Float(Int64(littleEndian: source.loadUnaligned(fromByteOffset: index * 8, as: Int64.self)))
            case "I32": value = Float(Int32(littleEndian: source.loadUnaligned(fromByteOffset: index * 4, as: Int32.self)))
            case "I16": value = Float(Int16(littleEndian: source.loadUnaligned(fromByteOffset: index * 2, as: Int16.self)))
            case "I8": value = Float(source.load(fromByteOffset: index, as: Int8.self))
            default: value = Float(source.load(fromByteOffset: index, as: UInt8.self))
            }
            destination[index] = value
        }
    }

    /// bfloat16 bits of `value`, rounded to nearest even (NaN stays NaN).
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounding = ((bits >> 16) & 1) + 0x7FFF
        return UInt16((bits &+ rounding) >> 16)
    }

    /// Whether float16 holds `tensor` closely enough to store weights in it: no value overflows, and each value
    /// rounds to within 0.1% of itself or of 0.1% of the tensor's largest magnitude (float16 keeps 11 significant
    /// bits, 0.05%; tensors with a wide range of tiny values, such as some running variances, stay float32).
    public static func float16IsCloseEnough(_ tensor: Tensor) -> Bool {
        var largest: Float = 0
        for index in 0..<tensor.count { largest = max(largest, abs(tensor.pointer[index])) }
        guard largest.isFinite, largest <= Float(Float16.greatestFiniteMagnitude) else { return false }
        let floor = largest * 1e-3
        for index in 0..<tensor.count {
            let value = tensor.pointer[index]
            if abs(Float(Float16(value)) - value) > 1e-3 * max(abs(value), floor) { return false }
        }
        return true
    }

    /// The storage type of each tensor: `dataType`, except that ``StoragePrecision/float16WhereCloseEnough`` keeps
    /// tensors float16 cannot hold closely (``float16IsCloseEnough(_:)``) as float32.
    static func dataTypes(_ archive: SafetensorsArchive, _ precision: StoragePrecision) -> [StorageDataType] {
        archive.tensors.map { entry in
            switch precision {
            case .exactly(let dataType): return dataType
            case .float16WhereCloseEnough: return float16IsCloseEnough(entry.tensor) ? .float16 : .float32
            }
        }
    }

    /// Serialises `archive`, every tensor stored as `dataType`.
    public static func encode(_ archive: SafetensorsArchive, dataType: StorageDataType = .float32) -> Data {
        encode(archive, precision: .exactly(dataType))
    }

    /// Serialises `archive` with each tensor's storage type chosen by `precision`.
    public static func encode(_ archive: SafetensorsArchive, precision: StoragePrecision) -> Data {
        let types = dataTypes(archive, precision)
        var header: [String: Any] = [:]
        if !archive.metadata.isEmpty { header["__metadata__"] = archive.metadata }
        var offset = 0
        for ((name, tensor), dataType) in zip(archive.tensors, types) {
            let bytes = tensor.count * dataType.byteCount
            header[name] = ["dtype": dataType.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var headerData = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while headerData.count % 8 != 0 { headerData.append(0x20) }
        var data = Data(capacity: 8 + headerData.count + offset)
        withUnsafeBytes(of: UInt64(headerData.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(headerData)
        for ((_, tensor), dataType) in zip(archive.tensors, types) {
            switch dataType {
            case .float32:
                data.append(UnsafeBufferPointer(start: tensor.pointer, count: tensor.count))
            case .float16:
                let converted = (0..<tensor.count).map { Float16(tensor.pointer[$0]).bitPattern.littleEndian }
                converted.withUnsafeBufferPointer { data.append($0) }
            case .bfloat16:
                let converted = (0..<tensor.count).map { bfloat16Bits(tensor.pointer[$0]).littleEndian }
                converted.withUnsafeBufferPointer { data.append($0) }
            }
        }
        return data
    }

    /// Writes atomically (a temporary file renamed into place), so a crash never leaves half a file.
    public static func write(_ archive: SafetensorsArchive, to url: URL, dataType: StorageDataType = .float32) throws {
        try write(archive, to: url, precision: .exactly(dataType))
    }

    /// Writes atomically with each tensor's storage type chosen by `precision`.
    public static func write(_ archive: SafetensorsArchive, to url: URL, precision: StoragePrecision) throws {
        do {
            try AtomicFile.write(encode(archive, precision: precision), to: url)
        } catch {
            throw CheckpointError.unwritable(path: url.path, reason: FileProblem.sentence(for: error))
        }
    }
}

/// How tensors are stored in a written file.
public enum StoragePrecision: Sendable, Equatable {
    /// Every tensor in this type.
    case exactly(StorageDataType)
    /// Half the size for weights: float16 where it holds the tensor closely, float32 elsewhere (see
    /// ``Safetensors/float16IsCloseEnough(_:)``).
    case float16WhereCloseEnough
}

extension Module {
    /// Saves the state dictionary as safetensors (fp16 is what bundled weights use).
    public func save(to url: URL, dataType: StorageDataType = .float32, metadata: [String: String] = [:]) throws {
        try save(to: url, precision: .exactly(dataType), metadata: metadata)
    }

    /// Saves the state dictionary as safetensors with each tensor's storage type chosen by `precision`.
    public func save(to url: URL, precision: StoragePrecision, metadata: [String: String] = [:]) throws {
        try Safetensors.write(SafetensorsArchive(tensors: stateDictionary(), metadata: metadata), to: url, precision: precision)
    }

    /// Loads a safetensors state dictionary.
    public func load(contentsOf url: URL, strict: Bool = true) throws {
        try load(stateDictionary: Safetensors.read(contentsOf: url).dictionary, strict: strict)
    }
}
