"""JSON Schemas, shipped inside the wheel as rvc_convert.schemas."""
