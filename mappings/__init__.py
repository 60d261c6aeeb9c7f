"""Rule packs (YAML), shipped inside the wheel as rvc_convert.mappings."""
