"""Trigger-word detection ("activate") on 8 kHz audio, measured in false accepts per hour."""
