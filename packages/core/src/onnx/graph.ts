import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { ConfigError } from '../errors.js';
import type { DType } from '../tensor.js';
import { toFloat16Bits } from '../float16.js';

/** ONNX default-domain opset every graph targets. */
export const OPSET = 17;
const IR_VERSION = 8n;

/** A named value inside a graph (graph input, initializer or node output). */
export interface Value {
  readonly name: string;
}

export type AttrValue = number | string | readonly number[] | readonly string[] | { float: number } | { floats: readonly number[] };

/** Element types a graph value or initializer may have: the tensor dtypes plus `int8` (quantized weights). */
export type GraphDType = DType | 'int8';

const ONNX_DTYPES: Record<GraphDType, TensorProto_DataType> = {
  float32: TensorProto_DataType.FLOAT,
  int8: TensorProto_DataType.INT8,
  float16: TensorProto_DataType.FLOAT16,
  int64: TensorProto_DataType.INT64,
  int32: TensorProto_DataType.INT32,
  uint8: TensorProto_DataType.UINT8,
  bool: TensorProto_DataType.BOOL,
};

/**
 * The float type a graph computes in. `fp16`: activations, constants and weights are float16 inside
 * the graph (half the memory traffic; WebGPU needs the `shader-f16` feature), while float ports stay
 * float32 — inputs are cast at entry, outputs at exit — so callers see the same graph interface.
 */
export type ComputePrecision = 'fp32' | 'fp16';

const ONNX_FLOAT = TensorProto_DataType.FLOAT;
const ONNX_FLOAT16 = TensorProto_DataType.FLOAT16;

/** Where an initializer's bytes live: inline, or a range of an external data file. */
export type InitializerData =
  | { kind: 'inline'; bytes: Uint8Array }
  | { kind: 'external'; location: string; offset: number; length: number }
  /** Resolved when the model is serialized (weights are streamed to their file after the graph is built). */
  | { kind: 'deferred'; resolve(): InitializerData };

interface Initializer {
  name: string;
  dtype: GraphDType;
  shape: readonly number[];
  data: InitializerData;
}

function toBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function attribute(name: string, value: AttrValue): AttributeProto {
  const a = create(AttributeProtoSchema, { name });
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new ConfigError('graph', `attribute ${name}=${value} must be an integer; use {float: x}`);
    a.type = AttributeProto_AttributeType.INT;
    a.i = BigInt(value);
  } else if (typeof value === 'string') {
    a.type = AttributeProto_AttributeType.STRING;
    a.s = new TextEncoder().encode(value);
  } else if (Array.isArray(value)) {
    if (value.length > 0 && typeof value[0] === 'string') {
      a.type = AttributeProto_AttributeType.STRINGS;
      a.strings = (value as string[]).map((s) => new TextEncoder().encode(s));
    } else {
      a.type = AttributeProto_AttributeType.INTS;
      a.ints = (value as number[]).map((v) => BigInt(v));
    }
  } else if ('float' in (value as object)) {
    a.type = AttributeProto_AttributeType.FLOAT;
    a.f = (value as { float: number }).float;
  } else {
    a.type = AttributeProto_AttributeType.FLOATS;
    a.floats = [...(value as { floats: readonly number[] }).floats];
  }
  return a;
}

function valueInfo(name: string, dtype: GraphDType, dims: readonly (string | number)[]): ValueInfoProto {
  const shape = create(TensorShapeProtoSchema, {
    dim: dims.map((d) =>
      create(TensorShapeProto_DimensionSchema, {
        value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
      }),
    ),
  });
  const type = create(TypeProtoSchema, {
    value: { case: 'tensorType', value: create(TypeProto_TensorSchema, { elemType: ONNX_DTYPES[dtype], shape }) },
  });
  return create(ValueInfoProtoSchema, { name, type });
}

/**
 * Builds one ONNX model from ops and named initializers. Value names are unique by construction
 * (a counter per prefix), so composite helpers can be called any number of times.
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers = new Map<string, Initializer>();
  private readonly counters = new Map<string, number>();
  private usesMicrosoftDomain = false;
  /** In an fp16 graph: values computed in float32 (fp32 islands), which leave through a port without a Cast. */
  private readonly float32Values = new Set<string>();

  constructor(
    readonly name: string,
    readonly compute: ComputePrecision = 'fp32',
  ) {}

  /** Element type of float activations, constants and weights inside this graph. */
  get floatType(): 'float32' | 'float16' {
    return this.compute === 'fp16' ? 'float16' : 'float32';
  }

  /** A fresh unique value name. */
  fresh(prefix: string): string {
    const n = this.counters.get(prefix) ?? 0;
    this.counters.set(prefix, n + 1);
    return n === 0 ? prefix : `${prefix}_${n}`;
  }

  /** A graph input; a float32 input of an fp16 graph is returned cast to float16. */
  input(name: string, dtype: DType, dims: readonly (string | number)[]): Value {
    this.inputs.push(valueInfo(name, dtype, dims));
    return dtype === 'float32' && this.compute === 'fp16' ? this.op('Cast', [{ name }], { to: ONNX_FLOAT16 }) : { name };
  }

  /**
   * Marks `value` as a graph output named `name` (an Identity is inserted when the names differ). A
   * float32 output of an fp16 graph is cast back to float32 unless it was computed in float32.
   */
  output(value: Value, name: string, dtype: DType, dims: readonly (string | number)[]): void {
    if (dtype === 'float32' && this.compute === 'fp16' && !this.float32Values.has(value.name))
      this.nodes.push(this.node('Cast', [value.name], [name], { to: ONNX_FLOAT }));
    else if (value.name !== name) this.nodes.push(this.node('Identity', [value.name], [name], {}));
    this.outputs.push(valueInfo(name, dtype, dims));
  }

  /** Casts a non-float value (e.g. an int64 mask) to the graph's float type. */
  castFloat(x: Value): Value {
    return this.op('Cast', [x], { to: this.compute === 'fp16' ? ONNX_FLOAT16 : ONNX_FLOAT });
  }

  /** Enters an fp32 island: `x` cast to float32 in an fp16 graph (as is in an fp32 graph). */
  toFloat32(x: Value): Value {
    return this.compute === 'fp16' ? this.op('Cast', [x], { to: ONNX_FLOAT }) : x;
  }

  /** Leaves an fp32 island: float32 `x` cast back to the graph's float type. */
  fromFloat32(x: Value): Value {
    return this.compute === 'fp16' ? this.op('Cast', [x], { to: ONNX_FLOAT16 }) : x;
  }

  /** Registers an initializer; `data` is either inline bytes or a range in an external file. */
  initializer(name: string, dtype: GraphDType, shape: readonly number[], data: InitializerData): Value {
    const existing = this.initializers.get(name);
    if (existing) return { name };
    this.initializers.set(name, { name, dtype, shape: [...shape], data });
    return { name };
  }

  /** A small inline constant (shapes, scalars, axes); float constants take the graph's float type. */
  const(prefix: string, dtype: 'float32' | 'int64', shape: readonly number[], values: readonly number[]): Value {
    if (dtype === 'int64')
      return this.initializer(this.fresh(prefix), dtype, shape, { kind: 'inline', bytes: toBytes(BigInt64Array.from(values.map(BigInt))) });
    const floats = Float32Array.from(values);
    const bytes = this.compute === 'fp16' ? toBytes(toFloat16Bits(floats)) : toBytes(floats);
    return this.initializer(this.fresh(prefix), this.floatType, shape, { kind: 'inline', bytes });
  }

  int64s(values: readonly number[], prefix = 'c'): Value {
    return this.const(prefix, 'int64', [values.length], values);
  }

  scalar(value: number, prefix = 'c'): Value {
    return this.const(prefix, 'float32', [], [value]);
  }

  private node(op: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue>, domain = ''): NodeProto {
    return create(NodeProtoSchema, {
      opType: op,
      domain,
      input: inputs,
      output: outputs,
      name: outputs[0],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
  }

  /** Appends one op with a single output. */
  op(op: string, inputs: readonly (Value | null)[], attrs: Record<string, AttrValue> = {}, domain = ''): Value {
    return this.opN(op, inputs, 1, attrs, domain)[0];
  }

  /** Appends one op with `n` outputs. Absent optional inputs are `null`. */
  opN(op: string, inputs: readonly (Value | null)[], n: number, attrs: Record<string, AttrValue> = {}, domain = ''): Value[] {
    if (domain === 'com.microsoft') this.usesMicrosoftDomain = true;
    const outs = Array.from({ length: n }, () => this.fresh(op.toLowerCase()));
    // Float ops keep their first input's type, so an fp32 island stays known as float32 until cast back.
    const float32 = op === 'Cast' ? attrs.to === ONNX_FLOAT : !!inputs[0] && this.float32Values.has(inputs[0].name);
    if (float32 && this.compute === 'fp16') this.float32Values.add(outs[0]);
    this.nodes.push(
      this.node(
        op,
        inputs.map((v) => v?.name ?? ''),
        outs,
        attrs,
        domain,
      ),
    );
    return outs.map((name) => ({ name }));
  }

  /** Serializes the model. Initializers with external data keep only their location/offset/length. */
  toBytes(docString = ''): Uint8Array {
    const initializer: TensorProto[] = [...this.initializers.values()].map((init) => {
      const t = create(TensorProtoSchema, {
        name: init.name,
        dataType: ONNX_DTYPES[init.dtype],
        dims: init.shape.map((d) => BigInt(d)),
      });
      const data = init.data.kind === 'deferred' ? init.data.resolve() : init.data;
      if (data.kind === 'inline') {
        t.rawData = data.bytes as Uint8Array<ArrayBuffer>;
      } else if (data.kind === 'external') {
        t.dataLocation = TensorProto_DataLocation.EXTERNAL;
        t.externalData = [
          create(StringStringEntryProtoSchema, { key: 'location', value: data.location }),
          create(StringStringEntryProtoSchema, { key: 'offset', value: String(data.offset) }),
          create(StringStringEntryProtoSchema, { key: 'length', value: String(data.length) }),
        ];
      } else {
        throw new ConfigError(this.name, `initializer ${init.name} resolved to another deferred value`);
      }
      return t;
    });
    const graph = create(GraphProtoSchema, {
      name: this.name,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer,
    });
    const opsetImport = [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(OPSET) })];
    if (this.usesMicrosoftDomain) opsetImport.push(create(OperatorSetIdProtoSchema, { domain: 'com.microsoft', version: 1n }));
    const model = create(ModelProtoSchema, {
      irVersion: IR_VERSION,
      producerName: '@mplug2/core',
      producerVersion: '0.1.0',
      docString,
      graph,
      opsetImport,
    });
    return toBinary(ModelProtoSchema, model);
  }
}
