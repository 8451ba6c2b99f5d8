//! Casts of both dialects: torch float/double/int/long/bool/byte/type, tfjs cast.

use crate::error::Result;
use crate::ops::{lit_str, BuildResult, Call, Dialect, Kernel, Operand, Registry};
use crate::tensor::{DType, Tensor};

#[derive(Debug)]
struct Cast(DType);

impl Kernel for Cast {
    fn eval(&self, mut args: Vec<Operand<'_>>) -> Result<Tensor> {
        Ok(args
            .pop()
            .unwrap_or_else(|| unreachable!())
            .into_dtype(self.0)
            .into_tensor())
    }
}

/// A dtype named by torch (`torch.float32`, `torch.FloatTensor`, `float`) or numpy.
pub fn torch_dtype_name(s: &str) -> Option<DType> {
    let s = s.strip_prefix("torch.").unwrap_or(s);
    Some(match s {
        "float32" | "float" | "FloatTensor" => DType::F32,
        "float64" | "double" | "DoubleTensor" => DType::F64,
        "int32" | "int" | "IntTensor" => DType::I32,
        "int64" | "long" | "LongTensor" => DType::I64,
        "uint8" | "ByteTensor" => DType::U8,
        "bool" | "BoolTensor" => DType::Bool,
        _ => return None,
    })
}

fn to(dt: DType) -> impl Fn(&mut Call<'_>) -> BuildResult + Send + Sync + 'static {
    move |c| {
        let b = c.bind(&["self"])?;
        c.operand(&b, "self")?;
        Ok(Box::new(Cast(dt)))
    }
}

fn build_type(c: &mut Call<'_>) -> BuildResult {
    let b = c.bind(&["self", "dtype"])?;
    c.operand(&b, "self")?;
    let name = lit_str(&b, "dtype")?.unwrap_or_default();
    let dt = torch_dtype_name(&name).ok_or_else(|| format!("unsupported dtype '{name}'"))?;
    Ok(Box::new(Cast(dt)))
}

fn build_tf_cast(c: &mut Call<'_>) -> BuildResult {
    debug_assert_eq!(c.dialect, Dialect::Tfjs);
    let b = c.bind(&["x", "dtype"])?;
    c.operand(&b, "x")?;
    let name = lit_str(&b, "dtype")?.unwrap_or_default();
    let dt = match name.as_str() {
        "float32" => DType::F32,
        "int32" => DType::I32,
        "bool" => DType::Bool,
        _ => return Err(format!("unsupported dtype '{name}' (float32, int32, bool)")),
    };
    Ok(Box::new(Cast(dt)))
}

pub fn register(r: &mut Registry) {
    r.torch(&["float"], to(DType::F32));
    r.torch(&["double"], to(DType::F64));
    r.torch(&["int"], to(DType::I32));
    r.torch(&["long"], to(DType::I64));
    r.torch(&["bool"], to(DType::Bool));
    r.torch(&["byte"], to(DType::U8));
    r.torch(&["type"], build_type);
    r.tfjs(&["cast"], build_tf_cast);
}
