use std::sync::Arc;

use arrow_array::types::Float32Type;
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Int64Array, ListArray, StringArray,
};
use arrow_schema::{DataType, Field};
use deeplake_types::{
    build_array, cell, coerce_array, infer_type, SpecType, TypeError, Value, TYPE_KEY,
};

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

#[test]
fn names_parse_and_print_both_ways() {
    for t in SpecType::ALL {
        let t = match t {
            SpecType::Embedding(_) => SpecType::Embedding(Some(8)),
            SpecType::Embedding2D(_) => SpecType::Embedding2D(Some(4)),
            t => t,
        };
        assert_eq!(t.name().parse::<SpecType>().unwrap(), t, "{t}");
    }
    assert_eq!(
        "embedding(384)".parse::<SpecType>().unwrap(),
        SpecType::Embedding(Some(384))
    );
    assert_eq!(
        "EMBEDDING".parse::<SpecType>().unwrap(),
        SpecType::Embedding(None)
    );
    assert_eq!("bigint".parse::<SpecType>().unwrap(), SpecType::Int64);
    assert_eq!(
        "DEEPLAKE_POINT".parse::<SpecType>().unwrap(),
        SpecType::Point
    );
    assert!(matches!(
        "VECTOR".parse::<SpecType>(),
        Err(TypeError::UnknownType(_))
    ));
    assert!(matches!(
        "EMBEDDING(0)".parse::<SpecType>(),
        Err(TypeError::BadSize(_))
    ));
    assert!(matches!(
        "EMBEDDING(x)".parse::<SpecType>(),
        Err(TypeError::BadSize(_))
    ));
    assert!(matches!(
        "TEXT(3)".parse::<SpecType>(),
        Err(TypeError::UnknownType(_))
    ));
}

#[test]
fn sql_names_follow_postgres() {
    assert_eq!(SpecType::Text.sql_name(), "text");
    assert_eq!(SpecType::Int32.sql_name(), "integer");
    assert_eq!(SpecType::Int64.sql_name(), "bigint");
    assert_eq!(SpecType::Float32.sql_name(), "real");
    assert_eq!(SpecType::Float64.sql_name(), "double precision");
    assert_eq!(SpecType::Bool.sql_name(), "boolean");
    assert_eq!(SpecType::Binary.sql_name(), "bytea");
    assert_eq!(SpecType::Json.sql_name(), "jsonb");
    assert_eq!(SpecType::Embedding(Some(3)).sql_name(), "float4[3]");
    assert_eq!(SpecType::Embedding2D(Some(3)).sql_name(), "float4[][]");
    assert_eq!(SpecType::Image.sql_name(), "IMAGE");
    assert_eq!(SpecType::Polygon.sql_name(), "DEEPLAKE_POLYGON");
    assert_eq!(SpecType::Point.sql_name(), "DEEPLAKE_POINT");
    assert_eq!(SpecType::ClassLabel.sql_name(), "CLASS_LABEL");
}

#[test]
fn inference_follows_the_spec() {
    let cases: Vec<(Vec<Value>, SpecType)> = vec![
        (vec![Value::Bool(true), Value::Null], SpecType::Bool),
        (vec![Value::Int(1), Value::Int(2)], SpecType::Int64),
        (vec![Value::Float(1.5)], SpecType::Float64),
        (vec![Value::Int(1), Value::Float(2.5)], SpecType::Float64),
        (vec![s("hello"), s("world")], SpecType::Text),
        (vec![Value::Bytes(vec![0, 1])], SpecType::Binary),
        (
            vec![Value::Floats(vec![0.1, 0.2, 0.3])],
            SpecType::Embedding(Some(3)),
        ),
        (
            vec![Value::FloatRows(vec![vec![0.1, 0.2], vec![0.3, 0.4]])],
            SpecType::Embedding2D(Some(2)),
        ),
        (vec![s(r#"{"a": 1}"#), s("[1, 2]")], SpecType::Json),
        // One non-JSON string makes the whole column text.
        (vec![s(r#"{"a": 1}"#), s("{not json")], SpecType::Text),
        (vec![s("[1, 2")], SpecType::Text),
        (
            vec![Value::Json(serde_json::json!({"k": "v"}))],
            SpecType::Json,
        ),
    ];
    for (values, want) in cases {
        assert_eq!(infer_type("c", &values).unwrap(), want, "{values:?}");
    }
}

#[test]
fn inference_rejects_bad_columns() {
    assert!(matches!(
        infer_type("c", &[Value::Int(1), s("x")]),
        Err(TypeError::MixedTypes { .. })
    ));
    assert!(matches!(
        infer_type("c", &[Value::Bool(true), Value::Int(1)]),
        Err(TypeError::MixedTypes { .. })
    ));
    assert!(matches!(
        infer_type(
            "c",
            &[Value::Floats(vec![1.0, 2.0]), Value::Floats(vec![1.0])]
        ),
        Err(TypeError::VaryingSize {
            first: 2,
            other: 1,
            ..
        })
    ));
    assert!(matches!(
        infer_type("c", &[Value::Null, Value::Null]),
        Err(TypeError::CannotInfer(_))
    ));
    assert!(matches!(
        infer_type("c", &[]),
        Err(TypeError::CannotInfer(_))
    ));
    let msg = infer_type("score", &[Value::Int(1), s("x")])
        .unwrap_err()
        .to_string();
    assert_eq!(msg, "Column 'score' mixes types: int and str");
}

#[test]
fn values_display_for_people() {
    assert_eq!(
        Value::Json(serde_json::json!(["snowboarder"])).to_string(),
        r#"["snowboarder"]"#
    );
    assert_eq!(Value::Bytes(vec![0; 10]).to_string(), "<10 bytes>");
    assert_eq!(Value::Null.to_string(), "NULL");
    assert_eq!(
        Value::Floats(vec![0.5; 8]).to_string(),
        "[0.5000, 0.5000, 0.5000, 0.5000, 0.5000, 0.5000, … (8 values)]"
    );
    assert_eq!(
        Value::FloatRows(vec![vec![1.0], vec![2.0]]).to_string(),
        "[[1.0000], [2.0000]]"
    );
}

#[test]
fn vectors_refuse_nan_and_inf() {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300] {
        let err = build_array(
            "v",
            SpecType::Embedding(Some(2)),
            &[Value::Floats(vec![0.0, bad])],
        )
        .unwrap_err();
        assert!(matches!(err, TypeError::BadValue { .. }), "{bad}: {err}");
    }
    let err = build_array("f", SpecType::Float32, &[Value::Float(1e300)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Column 'f' row 0: 1e300 does not fit in FLOAT32"
    );
    assert!(build_array("f", SpecType::Float32, &[Value::Float(f64::INFINITY)]).is_ok());
    // Plain float columns may hold NaN: it is a value there.
    assert!(build_array("f", SpecType::Float64, &[Value::Float(f64::NAN)]).is_ok());
    let err = build_array(
        "v",
        SpecType::Embedding(Some(3)),
        &[Value::Floats(vec![0.0, 1.0])],
    )
    .unwrap_err();
    assert!(matches!(
        err,
        TypeError::VaryingSize {
            first: 3,
            other: 2,
            ..
        }
    ));
    let err = build_array("i", SpecType::Int32, &[Value::Int(1 << 40)]).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
    let err = build_array("t", SpecType::Text, &[Value::Int(1)]).unwrap_err();
    assert_eq!(err.to_string(), "Column 't' row 0: expected TEXT, got int");
    let err = build_array("j", SpecType::Json, &[s("{oops")]).unwrap_err();
    assert!(matches!(err, TypeError::BadValue { .. }));
}

/// Sample values for every storable type, with a null in each column.
pub fn samples(t: SpecType) -> Option<(SpecType, Vec<Value>)> {
    let blob = || {
        vec![
            Value::Bytes(vec![0, 255, 7]),
            Value::Null,
            Value::Bytes(vec![]),
        ]
    };
    Some(match t {
        SpecType::Text => (t, vec![s("héllo ✓"), Value::Null, s("")]),
        SpecType::Int32 | SpecType::ClassLabel => (
            t,
            vec![Value::Int(-5), Value::Null, Value::Int(i32::MAX as i64)],
        ),
        SpecType::Int64 => (
            t,
            vec![Value::Int(9_999_999_999), Value::Null, Value::Int(i64::MIN)],
        ),
        SpecType::Float32 => (t, vec![Value::Float(3.5), Value::Null, Value::Float(-0.25)]),
        SpecType::Float64 => (
            t,
            vec![
                Value::Float(1.000000000001),
                Value::Null,
                Value::Float(1e-300),
            ],
        ),
        SpecType::Bool => (t, vec![Value::Bool(true), Value::Null, Value::Bool(false)]),
        SpecType::Json => (
            t,
            vec![
                Value::Json(serde_json::json!({"a": [1, 2], "b": null})),
                Value::Null,
                Value::Json(serde_json::json!([1, "x"])),
            ],
        ),
        SpecType::Embedding(_) => (
            SpecType::Embedding(Some(3)),
            vec![
                Value::Floats(vec![0.5, -1.0, 2.0]),
                Value::Null,
                Value::Floats(vec![0.0, 0.0, 1.0]),
            ],
        ),
        SpecType::Embedding2D(_) => (
            SpecType::Embedding2D(Some(2)),
            vec![
                Value::FloatRows(vec![vec![1.0, 0.0], vec![0.5, 0.5]]),
                Value::Null,
                Value::FloatRows(vec![vec![0.25, 0.75]]),
            ],
        ),
        SpecType::BoundingBox => (
            t,
            vec![
                Value::Floats(vec![1.0, 2.0, 30.0, 40.0]),
                Value::Null,
                Value::Floats(vec![0.0, 0.0, 1.0, 1.0]),
            ],
        ),
        SpecType::Point => (
            t,
            vec![
                Value::Floats(vec![1.0, 2.0]),
                Value::Null,
                Value::Floats(vec![3.0, 4.0, 5.0]),
            ],
        ),
        SpecType::File => return None,
        t if t.is_blob() => (t, blob()),
        _ => return None,
    })
}

#[test]
fn every_type_round_trips_through_arrow() {
    let mut covered = 0;
    for t in SpecType::ALL {
        let Some((t, values)) = samples(t) else {
            continue;
        };
        covered += 1;
        let array = build_array("c", t, &values).unwrap();
        assert_eq!(array.data_type(), &t.arrow_type().unwrap(), "{t}");
        let field = t.field("c").unwrap();
        assert_eq!(field.metadata().get(TYPE_KEY), Some(&t.name()));
        assert_eq!(SpecType::of_field(&field).unwrap(), t);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(&cell(array.as_ref(), t, i).unwrap(), v, "{t} row {i}");
        }
    }
    assert_eq!(
        covered,
        SpecType::ALL.len() - 1,
        "every type but FILE is storable"
    );
    assert!(matches!(
        SpecType::File.arrow_type(),
        Err(TypeError::NotStorable(_))
    ));
}

#[test]
fn arrow_input_is_coerced_and_checked() {
    // A list column of equal-length float rows becomes a fixed-size embedding.
    let rows = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
        Some(vec![Some(1.0), Some(2.0)]),
        Some(vec![Some(3.0), Some(4.0)]),
    ]);
    let (t, a) = coerce_array(
        "v",
        SpecType::Embedding(None),
        &(Arc::new(rows) as ArrayRef),
    )
    .unwrap();
    assert_eq!(t, SpecType::Embedding(Some(2)));
    assert_eq!(
        a.data_type(),
        &SpecType::Embedding(Some(2)).arrow_type().unwrap()
    );

    let ragged = ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
        Some(vec![Some(1.0), Some(2.0)]),
        Some(vec![Some(3.0)]),
    ]);
    assert!(matches!(
        coerce_array(
            "v",
            SpecType::Embedding(None),
            &(Arc::new(ragged) as ArrayRef)
        ),
        Err(TypeError::VaryingSize { .. })
    ));

    let nan = FixedSizeListArray::try_new(
        Arc::new(Field::new("x", DataType::Float32, true)),
        2,
        Arc::new(Float32Array::from(vec![1.0, f32::NAN])),
        None,
    )
    .unwrap();
    assert!(matches!(
        coerce_array("v", SpecType::Embedding(None), &(Arc::new(nan) as ArrayRef)),
        Err(TypeError::BadValue { .. })
    ));

    let ints: ArrayRef = Arc::new(Int64Array::from(vec![1, 1 << 40]));
    assert!(
        coerce_array("i", SpecType::Int32, &ints).is_err(),
        "overflow must not silently become null"
    );
    let (_, a) = coerce_array("i", SpecType::Float64, &ints).unwrap();
    assert_eq!(a.data_type(), &DataType::Float64);

    let text: ArrayRef = Arc::new(StringArray::from(vec!["a"]));
    let err = coerce_array("b", SpecType::Image, &text)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'b'") && err.contains("IMAGE"), "{err}");
    let json: ArrayRef = Arc::new(StringArray::from(vec![r#"{"a":1}"#, "nope"]));
    assert!(matches!(
        coerce_array("j", SpecType::Json, &json),
        Err(TypeError::BadValue { row: 1, .. })
    ));
}
