"""The live city: sensor feeds over MQTT and HTTP, alarms, emergency events from intake to close."""
